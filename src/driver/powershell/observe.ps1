# sfb-dr observe: one pass over the deployment, printed as one JSON document with the cmdlets' own
# field names (in no particular order); sfb-dr turns it into the observed topology. No value is
# interpolated here.
# Health probe: a TCP connect to each computer's SIP port (Front End 5061, Edge its internal SIP port), 2 s each.
function Get-SfbDrProbe([string[]]$Computers, [int]$Port) {
    $answered = 0
    foreach ($c in $Computers) {
        $client = New-Object Net.Sockets.TcpClient
        try { if ($client.ConnectAsync($c, $Port).Wait(2000)) { $answered++ } } catch { } finally { $client.Dispose() }
    }
    @{ Total = @($Computers).Count; Answered = $answered }
}
# A computer is listed as its FQDN or as an object with an Fqdn (strict mode forbids .Fqdn on a string).
function Get-SfbDrNames($Items) {
    , @($Items | Where-Object { $_ } | ForEach-Object { if ($_.PSObject.Properties['Fqdn']) { [string]$_.Fqdn } else { [string]$_ } })
}
# Front End pools are the pools that run the User Services (Directors run only a Registrar).
# (-like on an array keeps the matches; no match is an empty array, which is false.)
$pools = @(foreach ($p in @(Get-CsPool | Where-Object { [string[]]@($_.Services) -like 'UserServer:*' })) {
    $fqdn = [string]$p.Fqdn
    $computers = Get-SfbDrNames $p.Computers
    $probe = Get-SfbDrProbe $computers 5061
    # One pool's failure marks that pool, not the whole observation. No relation is an unpaired
    # pool; a relation without BackupPoolFqdn is an error (strict mode), not "unpaired".
    $backupPool = ''
    $relationError = $null
    try {
        $relation = Get-CsPoolBackupRelationship -PoolFqdn $fqdn
        if ($null -ne $relation) { $backupPool = [string]$relation.BackupPoolFqdn }
    } catch { $relationError = [string]$_ }
    $modules = $statusError = $null
    # A pool none of whose Front Ends answers cannot report its Backup Service: not asked.
    if ($probe.Answered -or -not $probe.Total) {
        try {
            # One direction per query: this pool's export to its backup pool (SFB-DR-FACTS).
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
