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
[Console]::Out.WriteLine('sfb-dr: started')
try {
Import-Module SkypeForBusiness -ErrorAction Stop
function Get-SfbDrNames($Items) {
, @($Items | Where-Object { $_ } | ForEach-Object { if ($_.PSObject.Properties['Fqdn']) { [string]$_.Fqdn } else { [string]$_ } })
}
function Get-SfbDrModules($Status) {
, @($Status.BackupModules | ForEach-Object {
@{ Identity = [string]$_.Identity; ExportStatus = [string]$_.ExportStatus; ImportStatus = [string]$_.ImportStatus }
})
}
$rgsBackup = $false
try {
$setting = (Get-CsBackupServiceConfiguration).PSObject.Properties['EnableRgsBackupService']
if ($null -ne $setting) { $rgsBackup = [bool]($setting.Value -eq $true) }
} catch { $rgsBackup = $null }
$pools = @(foreach ($p in @(Get-CsPool | Where-Object { [string[]]@($_.Services) -like 'UserServer:*' })) {
$fqdn = [string]$p.Fqdn
$computerError = $null
try { $computers = @(Get-SfbDrNames (Get-CsComputer -Pool $fqdn)) } catch { $computerError = [string]$_; $computers = @(Get-SfbDrNames $p.Computers) }
$probe = @(Get-SfbDrProbe $computers 5061)
$backupPool = ''
$relationError = $null
try {
$relation = Get-CsPoolBackupRelationship -PoolFqdn $fqdn
if ($null -ne $relation) { $backupPool = [string]$relation.BackupPoolFqdn }
} catch { $relationError = [string]$_ }
$modules = $statusError = $userDatabases = $backEndError = $mirrorStates = $mirrorError = $null
if (($probe -contains $true) -or $probe.Count -eq 0) {
try {
$modules = @(Get-SfbDrModules (Get-CsBackupServiceStatus -PoolFqdn $fqdn))
if ($rgsBackup) { $modules = @($modules) + @(Get-SfbDrModules (Get-CsBackupServiceStatus -PoolFqdn $fqdn -Category RGS)) }
} catch { $modules = $null; $statusError = [string]$_ }
}
if ($probe -contains $true) {
try {
$userDatabases = @(Get-CsUserDatabaseState -RegistrarPool $fqdn | ForEach-Object { @{ Online = [string]$_.Online } })
} catch { $backEndError = [string]$_ }
try {
$mirrorStates = @(Get-CsDatabaseMirrorState -PoolFqdn $fqdn -DatabaseType User -LocalStore | ForEach-Object { @{ StateOnPrimary = [string]$_.StateOnPrimary; StateOnMirror = [string]$_.StateOnMirror } })
} catch { $mirrorError = [string]$_ }
}
@{
Fqdn = $fqdn; Site = [string]$p.Site; Computers = $computers; ComputerError = $computerError; Probe = $probe
BackupPoolFqdn = $backupPool; RelationError = $relationError
BackupModules = $modules; BackupStatusError = $statusError
UserDatabases = $userDatabases; BackEndError = $backEndError
MirrorStates = $mirrorStates; MirrorError = $mirrorError
}
})
$cms = $cmsError = $null
$replicas = @()
$replicaError = $null
try {
$status = Get-CsManagementStoreReplicationStatus -CentralManagementStoreStatus
$cms = @{ ActiveMasterFqdn = [string]$status.ActiveMasterFqdn; ActiveFileTransferAgents = Get-SfbDrNames $status.ActiveFileTransferAgents }
} catch { $cmsError = [string]$_ }
try {
$replicas = @(Get-CsManagementStoreReplicationStatus | ForEach-Object { @{ ReplicaFqdn = [string]$_.ReplicaFqdn; UpToDate = [bool]$_.UpToDate } })
} catch { $replicaError = [string]$_ }
$cmsStore = $cmsStoreError = $null
$userStores = @()
try {
$location = Get-CsConfigurationStoreLocation
$named = $location.PSObject.Properties['BackEndServer']
if ($null -ne $named) { $cmsStore = [string]$named.Value } else { $cmsStore = [string]$location }
$userStores = @(Get-CsService -UserDatabase | ForEach-Object { @{ PoolFqdn = [string]$_.PoolFqdn; DependentServiceList = @($_.DependentServiceList | ForEach-Object { [string]$_ }) } })
} catch { $cmsStoreError = [string]$_ }
$edges = @(foreach ($e in @(Get-CsService -EdgeServer)) {
$computers = @(Get-SfbDrNames (Get-CsPool -Identity ([string]$e.PoolFqdn)).Computers)
$port = [int]$e.AccessEdgeInternalSipPort
if (-not $port) { $port = 5061 }
@{
PoolFqdn = [string]$e.PoolFqdn; SiteId = [string]$e.SiteId
Registrar = [string]$e.Registrar; Computers = $computers; Probe = @(Get-SfbDrProbe $computers $port)
}
})
$sites = @()
$siteError = $null
try {
$sites = @(foreach ($s in @(Get-CsSite)) {
$sip = $s.PSObject.Properties['FederationRoute']
$xmpp = $s.PSObject.Properties['XmppFederationRoute']
$sipRoute = $null
if ($null -ne $sip -and $null -ne $sip.Value) { $sipRoute = [string]$sip.Value }
$xmppRoute = $null
if ($null -ne $xmpp -and $null -ne $xmpp.Value) { $xmppRoute = [string]$xmpp.Value }
@{
Identity = [string]$s.Identity; FederationRoute = $sipRoute; XmppFederationRoute = $xmppRoute
HasFederationRoute = ($null -ne $sip); HasXmppFederationRoute = ($null -ne $xmpp)
}
})
} catch { $siteError = [string]$_ }
$chat = @()
$chatError = $null
try {
$chat = @(foreach ($c in @(Get-CsService -PersistentChatServer)) {
$fqdn = [string]$c.PoolFqdn
$computers = @(Get-SfbDrNames (Get-CsPool -Identity $fqdn).Computers)
$state = $stateError = $active = $null
$hasActive = $false
try {
$answer = @(Get-CsPersistentChatState -Identity ([string]$c.Identity))[0]
$state = [string]$answer.PoolState
$named = $answer.PSObject.Properties['ActiveServers']
if ($null -ne $named) { $hasActive = $true; $active = Get-SfbDrNames $named.Value }
} catch { $stateError = [string]$_ }
@{
PoolFqdn = $fqdn; Computers = $computers; Probe = @(Get-SfbDrProbe $computers 5041)
PoolState = $state; StateError = $stateError; ActiveServers = $active; HasActiveServers = $hasActive
}
})
} catch { $chatError = [string]$_ }
$report = @{
Pools = $pools; Cms = $cms; CmsError = $cmsError; Replicas = $replicas; ReplicaError = $replicaError; Edges = $edges
CmsStore = $cmsStore; CmsStoreError = $cmsStoreError; UserStores = $userStores; RgsBackup = $rgsBackup
Sites = $sites; SiteError = $siteError; PersistentChat = $chat; PersistentChatError = $chatError
}
[Console]::Out.WriteLine((ConvertTo-Json -InputObject $report -Depth 8 -Compress))
} catch {
$name = 'observe'
if ($_.InvocationInfo -and $_.InvocationInfo.MyCommand) { $name = [string]$_.InvocationInfo.MyCommand.Name }
[Console]::Out.WriteLine((ConvertTo-Json -InputObject @{ error = @{ cmdlet = $name; message = [string]$_.Exception.Message } } -Depth 4 -Compress))
exit 1
}
