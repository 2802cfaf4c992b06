Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false
[Console]::Out.WriteLine('sfb-dr: started')
try {
Import-Module SkypeForBusiness -ErrorAction Stop
$receiving = @((Get-CsPool -Identity 'pool2.contoso.com' -ErrorAction Stop).Computers | ForEach-Object { [string]$_ })
if ($receiving.Count -eq 0) { throw ('Get-CsPool lists no computers in ' + 'pool2.contoso.com') }
$here = [System.Net.Dns]::GetHostEntry('').HostName
if ($receiving -contains $here) {
Invoke-CsManagementServerFailover -Confirm:$false -ErrorAction Stop
} else {
$session = $null
$tried = @()
foreach ($computer in $receiving) { try { $session = New-PSSession -ComputerName $computer -ErrorAction Stop; break } catch { $tried += $computer + ': ' + $_.Exception.Message } }
if ($null -eq $session) { throw ('No computer of ' + 'pool2.contoso.com' + ' accepted PowerShell remoting. Tried ' + ($tried -join '; ')) }
try {
Invoke-Command -Session $session -ErrorAction Stop -ScriptBlock {
Import-Module SkypeForBusiness -ErrorAction Stop
Invoke-CsManagementServerFailover -Confirm:$false -ErrorAction Stop
}
} finally { Remove-PSSession -Session $session -ErrorAction SilentlyContinue }
}
[Console]::Out.WriteLine('{"ok":true}')
} catch {
$name = 'Invoke-CsManagementServerFailover'
if ($_.InvocationInfo -and $_.InvocationInfo.MyCommand) { $name = [string]$_.InvocationInfo.MyCommand.Name }
[Console]::Out.WriteLine((ConvertTo-Json -InputObject @{ error = @{ cmdlet = $name; message = [string]$_.Exception.Message } } -Depth 4 -Compress))
exit 1
}
