# sfb-dr runbook for plan bad8d775cd8e5519
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

# --- Step s1: fail the CMS over to pool2.litware.com (graceful)
# Waits for: nothing.
# Does: moves the CMS master to pool2.litware.com; waits for replication and makes the old master
#   read-only. Runs on a server of pool2.litware.com; then the runbook waits for ActiveMasterFqdn on
#   pool2.litware.com and every replica UpToDate.
$receivingPool = Get-CsPool -Identity 'pool2.litware.com' -ErrorAction Stop
$receiving = @($receivingPool.Computers | ForEach-Object { [string]$_ })
if ($receiving.Count -eq 0) { throw ('Get-CsPool lists no computers in ' + 'pool2.litware.com') }
$cmsFailover = @{}
$here = [System.Net.Dns]::GetHostEntry('').HostName
$session = $null
if ($receiving -notcontains $here) {
    $tried = @()
    foreach ($computer in $receiving) { try { $session = New-PSSession -ComputerName $computer -ErrorAction Stop; break } catch { $tried += $computer + ': ' + $_.Exception.Message } }
    if ($null -eq $session) { throw ('No computer of ' + 'pool2.litware.com' + ' accepted PowerShell remoting. Tried ' + ($tried -join '; ')) }
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
    if ((($receiving -contains $master) -or ($master -eq 'pool2.litware.com')) -and $behind.Count -eq 0) { break }
    if ((Get-Date) -gt $deadline) { throw 'The CMS has not settled within 15 minutes; check Get-CsManagementStoreReplicationStatus before going on.' }
    Start-Sleep -Seconds 30
}

# --- Step s2: fail over pool pool1.litware.com to its backup pool (graceful)
# Waits for s1 (fail the CMS over to pool2.litware.com (graceful)): nothing that reads or writes the
#   CMS runs while it moves (planning rule 2)
# Does: graceful failover of pool1.litware.com's users to its backup pool; pool1.litware.com goes
#   read-only and the Backup Service reaches FinalState first, so nothing is lost.
Invoke-CsPoolFailOver -PoolFqdn 'pool1.litware.com' -Confirm:$false -ErrorAction Stop

# --- Step s3: by hand, in SQL Server Management Studio on the instance that holds Persistent Chat pool pchat.litware.com's backup mgc database: drop log shipping (exec sp_delete_log_shipping_secondary_database mgc), copy the backup files not yet copied from the backup share to the backup server's copy destination folder, apply the transaction log backups not yet applied, in sequence, end the connections to mgc (exec sp_who2, kill <spid>), then restore database mgc with recovery
# Waits for s1 (fail the CMS over to pool2.litware.com (graceful)): nothing that reads or writes the
#   CMS runs while it moves (planning rule 2)
# Does: pchat.litware.com's backup mgc database leaves log shipping and comes online with every log
#   shipped so far; what the primary had not shipped is lost (planning rule 12).
# A person's step (no cmdlet does it from here): do what the step's line says.
if ((Read-Host ('Type done when step ' + 's3' + ' is done')) -ne 'done') { throw ('Step ' + 's3' + ' is not done; the runbook stops here.') }

# --- Step s4: put Persistent Chat pool pchat.litware.com in state FailedOver (Set-CsPersistentChatState -PoolState FailedOver: it uses its backup database)
# Waits for s3 (by hand, in SQL Server Management Studio on the instance that holds Persistent Chat
#   pool pchat.litware.com's backup mgc database: drop log shipping (exec
#   sp_delete_log_shipping_secondary_database mgc), copy the backup files not yet copied from the
#   backup share to the backup server's copy destination folder, apply the transaction log backups
#   not yet applied, in sequence, end the connections to mgc (exec sp_who2, kill <spid>), then
#   restore database mgc with recovery): Set-CsPersistentChatState FailedOver switches
#   pchat.litware.com to its backup mgc database, which must be online first (planning rule 12)
# Does: pchat.litware.com uses its backup mgc database from now on (planning rule 12).
$chatService = @(Get-CsService -PersistentChatServer -ErrorAction Stop | Where-Object { ([string]$_.PoolFqdn) -eq 'pchat.litware.com' })
if ($chatService.Count -ne 1) { throw 'Get-CsService -PersistentChatServer names no Persistent Chat pool pchat.litware.com (or more than one service for it). Nothing was changed.' }
$chatIdentity = [string]$chatService[0].Identity
$chatState = [string](@(Get-CsPersistentChatState -Identity $chatIdentity -ErrorAction Stop)[0].PoolState)
if ($chatState -ne 'FailedOver') {
    Set-CsPersistentChatState -Identity $chatIdentity -PoolState FailedOver -Confirm:$false -ErrorAction Stop
}

# --- Step s5: make pc3.litware.com, pc4.litware.com the active servers of Persistent Chat pool pchat.litware.com (Set-CsPersistentChatActiveServer)
# Waits for s4 (put Persistent Chat pool pchat.litware.com in state FailedOver
#   (Set-CsPersistentChatState -PoolState FailedOver: it uses its backup database)): Microsoft's
#   order for pchat.litware.com: on failover the state, then the active servers; on failback the
#   active servers, then the state (planning rule 12)
# Does: pc3.litware.com, pc4.litware.com accept new Persistent Chat connections for
#   pchat.litware.com; the others accept none (planning rule 12).
$chatService = @(Get-CsService -PersistentChatServer -ErrorAction Stop | Where-Object { ([string]$_.PoolFqdn) -eq 'pchat.litware.com' })
if ($chatService.Count -ne 1) { throw 'Get-CsService -PersistentChatServer names no Persistent Chat pool pchat.litware.com (or more than one service for it). Nothing was changed.' }
$chatIdentity = [string]$chatService[0].Identity
$chatComputers = @(Get-CsComputer -Pool 'pchat.litware.com' -ErrorAction Stop | ForEach-Object { $name = if ($_.PSObject.Properties['Fqdn']) { [string]$_.Fqdn } else { [string]$_.Identity }; $name.ToLowerInvariant() })
if ($chatComputers -notcontains 'pc3.litware.com') { throw 'pc3.litware.com is not a computer of Persistent Chat pool pchat.litware.com (Get-CsComputer -Pool). Nothing was changed.' }
if ($chatComputers -notcontains 'pc4.litware.com') { throw 'pc4.litware.com is not a computer of Persistent Chat pool pchat.litware.com (Get-CsComputer -Pool). Nothing was changed.' }
Set-CsPersistentChatActiveServer -Identity $chatIdentity -ActiveServers @('pc3.litware.com', 'pc4.litware.com') -Confirm:$false -ErrorAction Stop
