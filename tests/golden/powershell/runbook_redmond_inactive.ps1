# sfb-dr runbook for plan fdfea263169d7bcc
# 5 steps, in dependency order. Run in the Skype for Business Server Management Shell
# as a member of RTCUniversalServerAdmins. The first error stops the runbook: then observe
# and plan again rather than re-running a step (re-running a failover is not documented as safe).
# Written for Windows PowerShell 5.1 with the SkypeForBusiness module: a console window, a
# remote session or ssh. Hosts without a console (PowerShell ISE) run it too; they only skip
# the UTF-8 console output setting.
# "Planning rule N" is rule N of sfb-dr's docs/planning-rules.md.

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
try { [Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false } catch { }
function Get-SfbDrProbe([string[]]$Computers, [int]$Port) {
    , @(foreach ($c in $Computers) {
        $client = New-Object Net.Sockets.TcpClient
        $answered = $false
        try { $answered = [bool]$client.ConnectAsync($c, $Port).Wait(2000) } catch { } finally { $client.Dispose() }
        $answered
    })
}
Import-Module SkypeForBusiness

# --- Step s1: fail the CMS over to pool2.contoso.com (graceful)
# Waits for: nothing.
# Does: moves the CMS master to pool2.contoso.com; waits for replication and makes the old master
#   read-only. Runs on a server of pool2.contoso.com; then the runbook waits for ActiveMasterFqdn on
#   pool2.contoso.com and every replica UpToDate.
$receivingPool = Get-CsPool -Identity 'pool2.contoso.com' -ErrorAction Stop
$receiving = @($receivingPool.Computers | ForEach-Object { [string]$_ })
if ($receiving.Count -eq 0) { throw ('Get-CsPool lists no computers in ' + 'pool2.contoso.com') }
$cmsFailover = @{}
$here = [System.Net.Dns]::GetHostEntry('').HostName
$session = $null
if ($receiving -notcontains $here) {
    $tried = @()
    foreach ($computer in $receiving) { try { $session = New-PSSession -ComputerName $computer -ErrorAction Stop; break } catch { $tried += $computer + ': ' + $_.Exception.Message } }
    if ($null -eq $session) { throw ('No computer of ' + 'pool2.contoso.com' + ' accepted PowerShell remoting. Tried ' + ($tried -join '; ')) }
}
if ($null -eq $session) {
    Invoke-CsManagementServerFailover @cmsFailover -Confirm:$false -ErrorAction Stop
} else {
    try {
        Invoke-Command -Session $session -ErrorAction Stop -ArgumentList $cmsFailover -ScriptBlock {
            param($cmsFailover)
            Import-Module SkypeForBusiness -ErrorAction Stop
            Invoke-CsManagementServerFailover @cmsFailover -Confirm:$false -ErrorAction Stop
        }
    } finally { Remove-PSSession -Session $session -ErrorAction SilentlyContinue }
}
# Wait until the CMS has settled on the receiving pool (planning rule 2).
$deadline = (Get-Date).AddMinutes(15)
while ($true) {
    $master = [string](Get-CsManagementStoreReplicationStatus -CentralManagementStoreStatus).ActiveMasterFqdn
    $behind = @(Get-CsManagementStoreReplicationStatus | Where-Object { -not $_.UpToDate })
    if ((($receiving -contains $master) -or ($master -eq 'pool2.contoso.com')) -and $behind.Count -eq 0) { break }
    if ((Get-Date) -gt $deadline) { throw 'The CMS has not settled within 15 minutes; check Get-CsManagementStoreReplicationStatus before going on.' }
    Start-Sleep -Seconds 30
}

# --- Step s2: repoint Edge pool edge1.contoso.com to next hop pool2.contoso.com
# Waits for s1 (fail the CMS over to pool2.contoso.com (graceful)): nothing that reads or writes the
#   CMS runs while it moves (planning rule 2)
# Does: the Edge pool edge1.contoso.com forwards to pool2.contoso.com from now on.
Set-CsEdgeServer -Identity 'EdgeServer:edge1.contoso.com' -Registrar 'Registrar:pool2.contoso.com' -Confirm:$false -ErrorAction Stop

# --- Step s3: fail over pool pool1.contoso.com to its backup pool (graceful)
# Waits for s1 (fail the CMS over to pool2.contoso.com (graceful)): nothing that reads or writes the
#   CMS runs while it moves (planning rule 2)
# Waits for s2 (repoint Edge pool edge1.contoso.com to next hop pool2.contoso.com):
#   Invoke-CsPoolFailOver refuses while the Edge pool edge1.contoso.com, live or not, uses
#   pool1.contoso.com as next hop (planning rule 3)
# Does: graceful failover of pool1.contoso.com's users to its backup pool; pool1.contoso.com goes
#   read-only and the Backup Service reaches FinalState first, so nothing is lost.
Invoke-CsPoolFailOver -PoolFqdn 'pool1.contoso.com' -Confirm:$false -ErrorAction Stop

# --- Step s4: fail over pool pool3.contoso.com to its backup pool (graceful)
# Waits for s1 (fail the CMS over to pool2.contoso.com (graceful)): nothing that reads or writes the
#   CMS runs while it moves (planning rule 2)
# Does: graceful failover of pool3.contoso.com's users to its backup pool; pool3.contoso.com goes
#   read-only and the Backup Service reaches FinalState first, so nothing is lost.
Invoke-CsPoolFailOver -PoolFqdn 'pool3.contoso.com' -Confirm:$false -ErrorAction Stop

# --- Step s5: fail over pool pool6.contoso.com to its backup pool (graceful)
# Waits for s1 (fail the CMS over to pool2.contoso.com (graceful)): nothing that reads or writes the
#   CMS runs while it moves (planning rule 2)
# Does: graceful failover of pool6.contoso.com's users to its backup pool; pool6.contoso.com goes
#   read-only and the Backup Service reaches FinalState first, so nothing is lost.
Invoke-CsPoolFailOver -PoolFqdn 'pool6.contoso.com' -Confirm:$false -ErrorAction Stop
