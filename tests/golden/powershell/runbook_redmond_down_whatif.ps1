# sfb-dr runbook for plan 931639b08796417f
# 5 steps, in dependency order. Run in the Skype for Business Server Management Shell
# as a member of RTCUniversalServerAdmins. The first error stops the runbook: then observe
# and plan again rather than re-running a step (re-running a failover is not documented as safe).
# Written for Windows PowerShell 5.1 with the SkypeForBusiness module: a console window, a
# remote session or ssh. Hosts without a console (PowerShell ISE) run it too; they only skip
# the UTF-8 console output setting.
# "Planning rule N" is rule N of sfb-dr's docs/planning-rules.md.
# What-if run: state-changing cmdlets carry -WhatIf and change nothing.

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

# --- Step s1: fail the CMS over to pool2.contoso.com (disaster mode)
# Waits for: nothing.
# Does: recovers the CMS on pool2.contoso.com from its backup SQL Server (-Force); changes not yet
#   replicated are lost. First checks that backupSql is the Central Management database the topology
#   names for pool2.contoso.com and, with a mirror, uses whichever of primary and mirror is the
#   principal now. Runs on a server of pool2.contoso.com; then the runbook waits for
#   ActiveMasterFqdn on pool2.contoso.com.
$receivingPool = Get-CsPool -Identity 'pool2.contoso.com' -ErrorAction Stop
$receiving = @($receivingPool.Computers | ForEach-Object { [string]$_ })
if ($receiving.Count -eq 0) { throw ('Get-CsPool lists no computers in ' + 'pool2.contoso.com') }
$cmsNow = $null
try { $cmsNow = Get-CsManagementStoreReplicationStatus -CentralManagementStoreStatus -ErrorAction Stop } catch { throw ('Invoke-CsManagementServerFailover -Force is only for a lost CMS master, and whether the master is lost cannot be told: Get-CsManagementStoreReplicationStatus -CentralManagementStoreStatus failed: ' + [string]$_.Exception.Message) }
if ($null -eq $cmsNow) { throw ('Invoke-CsManagementServerFailover -Force is only for a lost CMS master, and whether the master is lost cannot be told: Get-CsManagementStoreReplicationStatus -CentralManagementStoreStatus failed: ' + 'it returned nothing.') }
$masterNow = [string]$cmsNow.ActiveMasterFqdn
if ($masterNow) {
    if (@(Get-SfbDrProbe @($masterNow) 5061) -contains $true) { throw ('Invoke-CsManagementServerFailover -Force is for a lost CMS master, but the master''s computer answers on its SIP port 5061: ' + $masterNow + ': forcing the CMS over would discard the changes not yet replicated. Nothing was changed; observe and plan again.') }
    try { $replicasNow = @(Get-CsManagementStoreReplicationStatus -ErrorAction Stop) } catch { throw ('Get-CsManagementStoreReplicationStatus could not list the CMS replicas, so whether the silent master is lost cannot be told: ' + [string]$_.Exception.Message) }
    $agentsNow = @($cmsNow.ActiveFileTransferAgents | Where-Object { $_ })
    if ($agentsNow.Count -gt 0 -and @($replicasNow | Where-Object { -not $_.UpToDate }).Count -eq 0) { throw ('The CMS and the network disagree about the CMS master: it does not answer on its SIP port 5061, but Get-CsManagementStoreReplicationStatus still names ' + $masterNow + ' as the active master, with file transfer agents and every replica up to date. Forcing the CMS over a master that is only unreachable from here would discard the changes not yet replicated, so nothing was changed: a person must find out whether the master is lost (then run this step by hand) or wait until the two agree.') }
}
$cmsStores = @(Get-CsService -CentralManagementDatabase -ErrorAction Stop | ForEach-Object { [pscustomobject]@{ Server = [string]$_.PoolFqdn; Instance = [string]$_.SqlInstanceName; Site = [string]$_.SiteId } })
if (@($cmsStores | Where-Object { $_.Server -eq 'sql2.contoso.com' -and $_.Instance -eq 'rtc' -and $_.Site -eq [string]$receivingPool.Site }).Count -ne 1) { throw ('The backupSql sql2.contoso.com\rtc of pool2.contoso.com is not the Central Management database that the published topology names in the site of pool2.contoso.com, so Invoke-CsManagementServerFailover cannot use it. The topology names: ' + (($cmsStores | ForEach-Object { $_.Server + '\' + $_.Instance + ' in ' + $_.Site }) -join ', ')) }
$mirrorStates = @(Get-CsDatabaseMirrorState -DatabaseType CentralMgmt -PoolFqdn 'pool2.contoso.com' -ErrorAction Stop)
$primaryLeads = $mirrorStates.Count -gt 0 -and @($mirrorStates | Where-Object { [string]$_.StateOnPrimary -ne 'Principal' }).Count -eq 0
$mirrorLeads = $mirrorStates.Count -gt 0 -and @($mirrorStates | Where-Object { [string]$_.StateOnMirror -ne 'Principal' }).Count -eq 0
if ($mirrorLeads) { throw 'The CMS database of pool2.contoso.com runs on its mirror now, which the backupSql of pool2.contoso.com does not name: declare mirrorSqlServerFqdn (and mirrorSqlInstanceName for a named instance)' }
$cmsFailover = @{ BackupSqlServerFqdn = 'sql2.contoso.com'; BackupSqlInstanceName = 'rtc' }
$here = [System.Net.Dns]::GetHostEntry('').HostName
$session = $null
if ($receiving -notcontains $here) {
    $tried = @()
    foreach ($computer in $receiving) { try { $session = New-PSSession -ComputerName $computer -ErrorAction Stop; break } catch { $tried += $computer + ': ' + $_.Exception.Message } }
    if ($null -eq $session) { throw ('No computer of ' + 'pool2.contoso.com' + ' accepted PowerShell remoting. Tried ' + ($tried -join '; ')) }
}
if ($null -eq $session) {
    Invoke-CsManagementServerFailover @cmsFailover -Force -Confirm:$false -ErrorAction Stop -WhatIf
} else {
    try {
        Invoke-Command -Session $session -ErrorAction Stop -ArgumentList $cmsFailover -ScriptBlock {
            param($cmsFailover)
            Import-Module SkypeForBusiness -ErrorAction Stop
            Invoke-CsManagementServerFailover @cmsFailover -Force -Confirm:$false -ErrorAction Stop -WhatIf
        }
    } finally { Remove-PSSession -Session $session -ErrorAction SilentlyContinue }
}
# (What-if: the CMS has not moved, so its check is left out.)

# --- Step s2: repoint Edge pool edge1.contoso.com to next hop pool2.contoso.com
# Waits for s1 (fail the CMS over to pool2.contoso.com (disaster mode)): every cmdlet needs a
#   working CMS, recovered first (planning rule 2)
# Does: the Edge pool edge1.contoso.com forwards to pool2.contoso.com from now on.
Set-CsEdgeServer -Identity 'EdgeServer:edge1.contoso.com' -Registrar 'Registrar:pool2.contoso.com' -Confirm:$false -ErrorAction Stop -WhatIf

# --- Step s3: fail over pool pool1.contoso.com to its backup pool (disaster mode)
# Waits for s2 (repoint Edge pool edge1.contoso.com to next hop pool2.contoso.com):
#   Invoke-CsPoolFailOver refuses while the Edge pool edge1.contoso.com, live or not, uses
#   pool1.contoso.com as next hop (planning rule 3)
# Does: disaster-mode failover of pool1.contoso.com's users to its backup pool; pool1.contoso.com is
#   unreachable and changes not yet replicated are lost (bounded by the RPO).
Invoke-CsPoolFailOver -PoolFqdn 'pool1.contoso.com' -DisasterMode -Confirm:$false -ErrorAction Stop -WhatIf

# --- Step s4: fail over pool pool3.contoso.com to its backup pool (disaster mode)
# Waits for s1 (fail the CMS over to pool2.contoso.com (disaster mode)): every cmdlet needs a
#   working CMS, recovered first (planning rule 2)
# Does: disaster-mode failover of pool3.contoso.com's users to its backup pool; pool3.contoso.com is
#   unreachable and changes not yet replicated are lost (bounded by the RPO).
Invoke-CsPoolFailOver -PoolFqdn 'pool3.contoso.com' -DisasterMode -Confirm:$false -ErrorAction Stop -WhatIf

# --- Step s5: fail over pool pool6.contoso.com to its backup pool (disaster mode)
# Waits for s1 (fail the CMS over to pool2.contoso.com (disaster mode)): every cmdlet needs a
#   working CMS, recovered first (planning rule 2)
# Does: disaster-mode failover of pool6.contoso.com's users to its backup pool; pool6.contoso.com is
#   unreachable and changes not yet replicated are lost (bounded by the RPO).
Invoke-CsPoolFailOver -PoolFqdn 'pool6.contoso.com' -DisasterMode -Confirm:$false -ErrorAction Stop -WhatIf
