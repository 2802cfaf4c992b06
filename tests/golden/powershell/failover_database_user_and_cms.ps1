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
$sfbdrKey = '0123456789abcdef-s1'
$sfbdrWaitSeconds = 2700
$sfbdrActed = $false
function Get-SfbDrOperationDirectory {
$me = [System.Security.Principal.WindowsIdentity]::GetCurrent().User
$allowed = @('S-1-5-18', 'S-1-5-32-544', $me.Value)
$root = Join-Path $env:ProgramData 'sfb-dr'
$dir = Join-Path $root 'operations'
foreach ($d in @($root, $dir)) {
if (-not [System.IO.Directory]::Exists($d)) {
$acl = New-Object System.Security.AccessControl.DirectorySecurity
$acl.SetAccessRuleProtection($true, $false)
foreach ($sid in $allowed) {
$who = New-Object System.Security.Principal.SecurityIdentifier $sid
$acl.AddAccessRule((New-Object System.Security.AccessControl.FileSystemAccessRule($who, 'FullControl', 'ContainerInherit, ObjectInherit', 'None', 'Allow')))
}
[void][System.IO.Directory]::CreateDirectory($d, $acl)
}
$acl = Get-Acl -LiteralPath $d
$owner = $acl.GetOwner([System.Security.Principal.SecurityIdentifier]).Value
if ($allowed -notcontains $owner) { throw ($d + ' is owned by ' + $owner + ', not by SYSTEM, Administrators or this account: remove it or fix its owner') }
if (-not $acl.AreAccessRulesProtected) { throw ($d + ' inherits access from its parent: it must allow only SYSTEM, Administrators and this account') }
foreach ($rule in $acl.GetAccessRules($true, $true, [System.Security.Principal.SecurityIdentifier])) {
if ([string]$rule.AccessControlType -eq 'Allow' -and $allowed -notcontains $rule.IdentityReference.Value) { throw ($d + ' allows access to ' + $rule.IdentityReference.Value + ': it must allow only SYSTEM, Administrators and this account') }
}
}
$dir
}
function Write-SfbDrRecord([string]$Path, $Record, [switch]$New) {
$tmp = $Path + '.' + $PID + '.tmp'
[System.IO.File]::WriteAllText($tmp, (ConvertTo-Json -InputObject $Record -Compress), (New-Object System.Text.UTF8Encoding $false))
if ($New) {
try { [System.IO.File]::Move($tmp, $Path) } catch {
Remove-Item -LiteralPath $tmp -Force -ErrorAction SilentlyContinue
if ([System.IO.File]::Exists($Path)) { return $false }
throw
}
return $true
}
[System.IO.File]::Replace($tmp, $Path, [NullString]::Value)
$true
}
function Read-SfbDrRecord([string]$Path) {
try { ConvertFrom-Json -InputObject ([System.IO.File]::ReadAllText($Path)) } catch { $null }
}
function Get-SfbDrField($Record, [string]$Name) {
$p = $Record.PSObject.Properties[$Name]
if ($null -eq $p) { return '' }
[string]$p.Value
}
function Test-SfbDrAlive($Record) {
$id = 0
if (-not [int]::TryParse((Get-SfbDrField $Record 'Pid'), [ref]$id)) { return $false }
$p = Get-Process -Id $id -ErrorAction SilentlyContinue
if ($null -eq $p) { return $false }
try { $start = [string]$p.StartTime.ToUniversalTime().Ticks } catch { return $true }
$start -eq (Get-SfbDrField $Record 'ProcessStart')
}
function Get-SfbDrReport($Record, [string]$State, [bool]$Alive) {
@{ State = $State; Alive = $Alive; Pid = (Get-SfbDrField $Record 'Pid'); Cmdlet = (Get-SfbDrField $Record 'Cmdlet'); Message = (Get-SfbDrField $Record 'Message'); Started = (Get-SfbDrField $Record 'Started'); Finished = (Get-SfbDrField $Record 'Finished') }
}
function Enter-SfbDrOperation([string]$Key, [string]$Cmdlet, [int]$WaitSeconds) {
$path = Join-Path (Get-SfbDrOperationDirectory) ('op-' + $Key + '.json')
$self = Get-Process -Id $PID
$record = [ordered]@{ Key = $Key; Cmdlet = $Cmdlet; State = 'Running'; Pid = [string]$PID; ProcessStart = [string]$self.StartTime.ToUniversalTime().Ticks; Started = [DateTime]::UtcNow.ToString('o'); Finished = ''; Message = '' }
if (Write-SfbDrRecord -Path $path -Record $record -New) { return @{ Owned = $true; Path = $path; Record = $record } }
$deadline = [DateTime]::UtcNow.AddSeconds($WaitSeconds)
$found = $null
while ($true) {
$found = Read-SfbDrRecord $path
if ($null -ne $found) {
if ((Get-SfbDrField $found 'Key') -cne $Key) { throw ($path + ' holds the record of another key') }
$state = Get-SfbDrField $found 'State'
if ($state -ne 'Running') { return @{ Owned = $false; Report = (Get-SfbDrReport $found $state $false) } }
if (-not (Test-SfbDrAlive $found)) { return @{ Owned = $false; Report = (Get-SfbDrReport $found 'Running' $false) } }
}
if ([DateTime]::UtcNow -gt $deadline) { break }
Start-Sleep -Seconds 2
}
if ($null -eq $found) { return @{ Owned = $false; Report = @{ State = 'Unreadable'; Alive = $false; Pid = ''; Cmdlet = ''; Message = ''; Started = ''; Finished = '' } } }
@{ Owned = $false; Report = (Get-SfbDrReport $found 'Running' $true) }
}
function Complete-SfbDrOperation($Operation, [string]$State, [string]$Cmdlet, [string]$Message) {
if ($Message.Length -gt 4000) { $Message = $Message.Substring(0, 4000) }
$record = $Operation.Record
$record.State = $State
$record.Cmdlet = $Cmdlet
$record.Message = $Message
$record.Finished = [DateTime]::UtcNow.ToString('o')
try { [void](Write-SfbDrRecord -Path $Operation.Path -Record $record); $true } catch { $false }
}
function Write-SfbDrResult($Value) {
[Console]::Out.WriteLine((ConvertTo-Json -InputObject $Value -Depth 4 -Compress))
}
try {
$sfbdrOperation = Enter-SfbDrOperation -Key $sfbdrKey -Cmdlet 'Invoke-CsDatabaseFailover' -WaitSeconds $sfbdrWaitSeconds
} catch {
Write-SfbDrResult @{ error = @{ cmdlet = 'sfb-dr operation record'; message = [string]$_.Exception.Message; acted = $false } }
exit 1
}
if (-not $sfbdrOperation.Owned) {
Write-SfbDrResult @{ record = $sfbdrOperation.Report }
exit 0
}
$sfbdrState = 'Succeeded'
$sfbdrCmdlet = 'Invoke-CsDatabaseFailover'
$sfbdrMessage = ''
try {
Import-Module SkypeForBusiness -ErrorAction Stop
$databaseMoves = @()
$mirrorCentralMgmt = $null
try { $mirrorCentralMgmt = @(Get-CsDatabaseMirrorState -PoolFqdn 'pool1.contoso.com' -DatabaseType CentralMgmt -LocalStore -ErrorAction Stop) } catch { throw ('Get-CsDatabaseMirrorState -DatabaseType CentralMgmt -PoolFqdn pool1.contoso.com could not be read, so whether its mirror SQL Server can take the CentralMgmt database cannot be told: ' + [string]$_.Exception.Message) }
if ($mirrorCentralMgmt.Count -eq 0 -or @($mirrorCentralMgmt | Where-Object { [string]$_.StateOnPrimary -ne 'DatabaseInaccessibleOrMirroringNotEnabled' -or [string]$_.StateOnMirror -ne 'DatabaseInaccessibleOrMirroringNotEnabled' }).Count -eq 0) { $mirrorCentralMgmt = @() }
$targetStates = @($mirrorCentralMgmt | ForEach-Object { [string]$_.StateOnMirror })
if (@($targetStates | Where-Object { $_ -ne 'Principal' -and $_ -ne 'Mirror' }).Count -gt 0) { throw ('The mirror SQL Server of pool1.contoso.com does not answer for its CentralMgmt database (Get-CsDatabaseMirrorState says ' + ($targetStates -join ', ') + '), so the database cannot fail over to it. Nothing was changed; observe and plan again.') }
if (@($mirrorCentralMgmt | Where-Object { [string]$_.StateOnPrimary -eq 'Principal' }).Count -gt 0) { throw 'The primary SQL Server of pool1.contoso.com answers as the principal of its CentralMgmt database again, so it is not failed over. Nothing was changed; observe and plan again.' }
if (@($targetStates | Where-Object { $_ -ne 'Principal' }).Count -gt 0) { $databaseMoves += 'CentralMgmt' }
$mirrorUser = $null
try { $mirrorUser = @(Get-CsDatabaseMirrorState -PoolFqdn 'pool1.contoso.com' -DatabaseType User -LocalStore -ErrorAction Stop) } catch { throw ('Get-CsDatabaseMirrorState -DatabaseType User -PoolFqdn pool1.contoso.com could not be read, so whether its mirror SQL Server can take the User database cannot be told: ' + [string]$_.Exception.Message) }
if ($mirrorUser.Count -eq 0) { throw 'Get-CsDatabaseMirrorState -DatabaseType User -PoolFqdn pool1.contoso.com returned nothing: the Back End of pool1.contoso.com has no mirror for its User database' }
$targetStates = @($mirrorUser | ForEach-Object { [string]$_.StateOnMirror })
if (@($targetStates | Where-Object { $_ -ne 'Principal' -and $_ -ne 'Mirror' }).Count -gt 0) { throw ('The mirror SQL Server of pool1.contoso.com does not answer for its User database (Get-CsDatabaseMirrorState says ' + ($targetStates -join ', ') + '), so the database cannot fail over to it. Nothing was changed; observe and plan again.') }
if (@($mirrorUser | Where-Object { [string]$_.StateOnPrimary -eq 'Principal' }).Count -gt 0) { throw 'The primary SQL Server of pool1.contoso.com answers as the principal of its User database again, so it is not failed over. Nothing was changed; observe and plan again.' }
if (@($targetStates | Where-Object { $_ -ne 'Principal' }).Count -gt 0) { $databaseMoves += 'User' }
$sfbdrActed = $true
if ($databaseMoves -contains 'CentralMgmt') {
Invoke-CsDatabaseFailover -PoolFqdn 'pool1.contoso.com' -DatabaseType CentralMgmt -NewPrincipal Mirror -LocalStore -Force -Confirm:$false -ErrorAction Stop
}
if ($databaseMoves -contains 'User') {
Invoke-CsDatabaseFailover -PoolFqdn 'pool1.contoso.com' -DatabaseType User -NewPrincipal Mirror -LocalStore -Force -Confirm:$false -ErrorAction Stop
}
} catch {
if ($_.InvocationInfo -and $_.InvocationInfo.MyCommand) { $sfbdrCmdlet = [string]$_.InvocationInfo.MyCommand.Name }
$sfbdrMessage = [string]$_.Exception.Message
$sfbdrState = 'Refused'
if ($sfbdrActed) { $sfbdrState = 'Failed' }
}
$sfbdrRecorded = Complete-SfbDrOperation -Operation $sfbdrOperation -State $sfbdrState -Cmdlet $sfbdrCmdlet -Message $sfbdrMessage
if ($sfbdrState -eq 'Succeeded') {
Write-SfbDrResult @{ ok = $true; recorded = $sfbdrRecorded }
exit 0
}
Write-SfbDrResult @{ error = @{ cmdlet = $sfbdrCmdlet; message = $sfbdrMessage; acted = $sfbdrActed }; recorded = $sfbdrRecorded }
exit 1
