# sfb-dr observe: one pass over the deployment, printed as one JSON document with the cmdlets' own
# field names (in no particular order); sfb-dr turns it into the observed topology. No value is
# interpolated here.
# Health: Get-SfbDrProbe, defined in every script's prelude, tells for each computer in the order
# listed whether it accepts a TCP connection on the SIP port within 2 s. The order matters: large
# pools need their quorum among their first servers.
# A computer is listed as its FQDN or as an object with an Fqdn (strict mode forbids .Fqdn on a string).
function Get-SfbDrNames($Items) {
    , @($Items | Where-Object { $_ } | ForEach-Object { if ($_.PSObject.Properties['Fqdn']) { [string]$_.Fqdn } else { [string]$_ } })
}
function Get-SfbDrModules($Status) {
    , @($Status.BackupModules | ForEach-Object {
        @{ Identity = [string]$_.Identity; ExportStatus = [string]$_.ExportStatus; ImportStatus = [string]$_.ImportStatus }
    })
}
# Response Group data is backed up only on Skype for Business Server 2019 (CU1 and later) with
# EnableRgsBackupService on; its modules are asked for separately (-Category RGS).
$rgsBackup = $false
try {
    $setting = (Get-CsBackupServiceConfiguration).PSObject.Properties['EnableRgsBackupService']
    if ($null -ne $setting) { $rgsBackup = [bool]($setting.Value -eq $true) }
} catch { $rgsBackup = $null }
# Front End pools are the pools that run the User Services (Directors run only a Registrar).
# (-like on an array keeps the matches; no match is an empty array, which is false.)
$pools = @(foreach ($p in @(Get-CsPool | Where-Object { [string[]]@($_.Services) -like 'UserServer:*' })) {
    $fqdn = [string]$p.Fqdn
    # @() everywhere a list may hold one item: strict mode forbids .Count on a lone value.
    # Get-CsComputer -Pool lists the servers in topology order, which pools of 8 or more need
    # (their quorum counts among their first servers); Get-CsPool's list when it fails.
    $computerError = $null
    try { $computers = @(Get-SfbDrNames (Get-CsComputer -Pool $fqdn)) } catch { $computerError = [string]$_; $computers = @(Get-SfbDrNames $p.Computers) }
    $probe = @(Get-SfbDrProbe $computers 5061)
    # One pool's failure marks that pool, not the whole observation. No relation is an unpaired
    # pool; a relation without BackupPoolFqdn is an error (strict mode), not "unpaired".
    $backupPool = ''
    $relationError = $null
    try {
        $relation = Get-CsPoolBackupRelationship -PoolFqdn $fqdn
        if ($null -ne $relation) { $backupPool = [string]$relation.BackupPoolFqdn }
    } catch { $relationError = [string]$_ }
    $modules = $statusError = $userDatabases = $backEndError = $mirrorStates = $mirrorError = $null
    # A pool none of whose Front Ends answers cannot report its Backup Service or Back End: not asked.
    if (($probe -contains $true) -or $probe.Count -eq 0) {
        try {
            # One direction per query: this pool's export to its backup pool.
            $modules = @(Get-SfbDrModules (Get-CsBackupServiceStatus -PoolFqdn $fqdn))
            if ($rgsBackup) { $modules = @($modules) + @(Get-SfbDrModules (Get-CsBackupServiceStatus -PoolFqdn $fqdn -Category RGS)) }
        } catch { $modules = $null; $statusError = [string]$_ }
    }
    if ($probe -contains $true) {
        # The Back End, as SfB sees its user databases: online or not.
        try {
            $userDatabases = @(Get-CsUserDatabaseState -RegistrarPool $fqdn | ForEach-Object { @{ Online = [string]$_.Online } })
        } catch { $backEndError = [string]$_ }
        # A mirrored Back End: which SQL Server is the principal of the user databases. Read
        # from the local replica, since the CMS may be what is down.
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
# A replica list that cannot be read is reported, never taken for "every replica up to date".
try {
    $replicas = @(Get-CsManagementStoreReplicationStatus | ForEach-Object { @{ ReplicaFqdn = [string]$_.ReplicaFqdn; UpToDate = [bool]$_.UpToDate } })
} catch { $replicaError = [string]$_ }
# Where the CMS database lives: the SQL Server the Active Directory service control point names
# (readable with the master lost), and which Front End pool uses that SQL Server as its Back End.
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
# The federation routes each site names (Set-CsSite -FederationRoute / -XmppFederationRoute);
# a property this version does not have is reported as absent, not as an empty route.
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
# Persistent Chat pools (Skype for Business Server 2015; 2019 has none and the cmdlet fails):
# each service's PoolState, its servers' answers on the Persistent Chat port (5041), and the
# active servers when the state object carries them (no cmdlet Microsoft documents reads them).
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
