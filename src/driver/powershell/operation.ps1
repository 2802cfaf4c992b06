# sfb-dr operation records: one file per operation key, so that a step runs at most once per key.
# They live in %ProgramData%\sfb-dr\operations, a directory only SYSTEM, Administrators and this
# account may use: it is created with that access list and no inherited entries, and an existing
# one is refused unless its owner and every entry allowing access are among those three.
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
# A record is written whole to a file of its own, then renamed into place: a reader never sees
# half a record. A new record is renamed only where none exists, which is what makes one call,
# and only one, the owner of a key.
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
# A record that cannot be read (damaged, or being replaced this instant) reads as $null.
function Read-SfbDrRecord([string]$Path) {
    try { ConvertFrom-Json -InputObject ([System.IO.File]::ReadAllText($Path)) } catch { $null }
}
function Get-SfbDrField($Record, [string]$Name) {
    $p = $Record.PSObject.Properties[$Name]
    if ($null -eq $p) { return '' }
    [string]$p.Value
}
# The process that wrote a Running record is alive when a process with its id exists and
# started when the record says: an id Windows gave to a later process does not count. A start
# time this account may not read counts as alive, so a live step is never taken for dead.
function Test-SfbDrAlive($Record) {
    $id = 0
    if (-not [int]::TryParse((Get-SfbDrField $Record 'Pid'), [ref]$id)) { return $false }
    $p = Get-Process -Id $id -ErrorAction SilentlyContinue
    if ($null -eq $p) { return $false }
    try { $start = [string]$p.StartTime.ToUniversalTime().Ticks } catch { return $true }
    $start -eq (Get-SfbDrField $Record 'ProcessStart')
}
# What an earlier call under this key left, as the driver reads it.
function Get-SfbDrReport($Record, [string]$State, [bool]$Alive) {
    @{ State = $State; Alive = $Alive; Pid = (Get-SfbDrField $Record 'Pid'); Cmdlet = (Get-SfbDrField $Record 'Cmdlet'); Message = (Get-SfbDrField $Record 'Message'); Started = (Get-SfbDrField $Record 'Started'); Finished = (Get-SfbDrField $Record 'Finished') }
}
# Claims $Key for this call, or reports what the call that claimed it did: its outcome once it
# has one; while it runs, waits up to $WaitSeconds for it; a Running record whose process is gone
# is reported as such (the step may or may not have run).
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
# Rewrites this call's record with its outcome; says whether that worked (a record left Running
# by a process that is gone reads as "outcome unknown" later, never as success or failure).
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
