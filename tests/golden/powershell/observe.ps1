Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false
[Console]::Out.WriteLine('sfb-dr: started')
try {
Import-Module SkypeForBusiness -ErrorAction Stop
function Get-SfbDrProbe([string[]]$Computers, [int]$Port) {
$answered = 0
foreach ($c in $Computers) {
$client = New-Object Net.Sockets.TcpClient
try { if ($client.ConnectAsync($c, $Port).Wait(2000)) { $answered++ } } catch { } finally { $client.Dispose() }
}
@{ Total = @($Computers).Count; Answered = $answered }
}
function Get-SfbDrNames($Items) {
, @($Items | Where-Object { $_ } | ForEach-Object { if ($_.PSObject.Properties['Fqdn']) { [string]$_.Fqdn } else { [string]$_ } })
}
$pools = @(foreach ($p in @(Get-CsPool | Where-Object { [string[]]@($_.Services) -like 'UserServer:*' })) {
$fqdn = [string]$p.Fqdn
$computers = Get-SfbDrNames $p.Computers
$probe = Get-SfbDrProbe $computers 5061
$backupPool = ''
$relationError = $null
try {
$relation = Get-CsPoolBackupRelationship -PoolFqdn $fqdn
if ($null -ne $relation) { $backupPool = [string]$relation.BackupPoolFqdn }
} catch { $relationError = [string]$_ }
$modules = $statusError = $null
if ($probe.Answered -or -not $probe.Total) {
try {
$modules = @((Get-CsBackupServiceStatus -PoolFqdn $fqdn).BackupModules | ForEach-Object {
@{ Identity = [string]$_.Identity; ExportStatus = [string]$_.ExportStatus; ImportStatus = [string]$_.ImportStatus }
})
} catch { $statusError = [string]$_ }
}
@{
Fqdn = $fqdn; Site = [string]$p.Site; Computers = $computers
BackupPoolFqdn = $backupPool; RelationError = $relationError
BackupModules = $modules; BackupStatusError = $statusError; Probe = $probe
}
})
$cms = $cmsError = $null
$replicas = @()
try {
$status = Get-CsManagementStoreReplicationStatus -CentralManagementStoreStatus
$cms = @{ ActiveMasterFqdn = [string]$status.ActiveMasterFqdn; ActiveFileTransferAgents = Get-SfbDrNames $status.ActiveFileTransferAgents }
$replicas = @(Get-CsManagementStoreReplicationStatus | ForEach-Object { @{ ReplicaFqdn = [string]$_.ReplicaFqdn; UpToDate = [bool]$_.UpToDate } })
} catch { $cmsError = [string]$_ }
$edges = @(foreach ($e in @(Get-CsService -EdgeServer)) {
$computers = Get-SfbDrNames (Get-CsPool -Identity ([string]$e.PoolFqdn)).Computers
$port = [int]$e.AccessEdgeInternalSipPort
if (-not $port) { $port = 5061 }
@{
PoolFqdn = [string]$e.PoolFqdn; SiteId = [string]$e.SiteId
Registrar = [string]$e.Registrar; Computers = $computers; Probe = Get-SfbDrProbe $computers $port
}
})
$report = @{ Pools = $pools; Cms = $cms; CmsError = $cmsError; Replicas = $replicas; Edges = $edges }
[Console]::Out.WriteLine((ConvertTo-Json -InputObject $report -Depth 8 -Compress))
} catch {
$name = 'observe'
if ($_.InvocationInfo -and $_.InvocationInfo.MyCommand) { $name = [string]$_.InvocationInfo.MyCommand.Name }
[Console]::Out.WriteLine((ConvertTo-Json -InputObject @{ error = @{ cmdlet = $name; message = [string]$_.Exception.Message } } -Depth 4 -Compress))
exit 1
}
