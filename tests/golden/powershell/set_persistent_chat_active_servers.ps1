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
$sfbdrOperation = Enter-SfbDrOperation -Key $sfbdrKey -Cmdlet 'Set-CsPersistentChatActiveServer' -WaitSeconds $sfbdrWaitSeconds
} catch {
Write-SfbDrResult @{ error = @{ cmdlet = 'sfb-dr operation record'; message = [string]$_.Exception.Message; acted = $false } }
exit 1
}
if (-not $sfbdrOperation.Owned) {
Write-SfbDrResult @{ record = $sfbdrOperation.Report }
exit 0
}
$sfbdrState = 'Succeeded'
$sfbdrCmdlet = 'Set-CsPersistentChatActiveServer'
$sfbdrMessage = ''
try {
Import-Module SkypeForBusiness -ErrorAction Stop
$chatService = @(Get-CsService -PersistentChatServer -ErrorAction Stop | Where-Object { ([string]$_.PoolFqdn) -eq 'pchat.contoso.com' })
if ($chatService.Count -ne 1) { throw 'Get-CsService -PersistentChatServer names no Persistent Chat pool pchat.contoso.com (or more than one service for it). Nothing was changed.' }
$chatIdentity = [string]$chatService[0].Identity
$chatComputers = @(Get-CsComputer -Pool 'pchat.contoso.com' -ErrorAction Stop | ForEach-Object { $name = if ($_.PSObject.Properties['Fqdn']) { [string]$_.Fqdn } else { [string]$_.Identity }; $name.ToLowerInvariant() })
if ($chatComputers -notcontains 'pc3.contoso.com') { throw 'pc3.contoso.com is not a computer of Persistent Chat pool pchat.contoso.com (Get-CsComputer -Pool). Nothing was changed.' }
if ($chatComputers -notcontains 'pc4.contoso.com') { throw 'pc4.contoso.com is not a computer of Persistent Chat pool pchat.contoso.com (Get-CsComputer -Pool). Nothing was changed.' }
$sfbdrActed = $true
Set-CsPersistentChatActiveServer -Identity $chatIdentity -ActiveServers @('pc3.contoso.com', 'pc4.contoso.com') -Confirm:$false -ErrorAction Stop
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
