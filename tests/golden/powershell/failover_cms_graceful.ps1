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
Invoke-Command -ComputerName $receiving[0] -ErrorAction Stop -ScriptBlock {
Import-Module SkypeForBusiness -ErrorAction Stop
Invoke-CsManagementServerFailover -Confirm:$false -ErrorAction Stop
}
}
[Console]::Out.WriteLine('{"ok":true}')
} catch {
$name = 'Invoke-CsManagementServerFailover'
if ($_.InvocationInfo -and $_.InvocationInfo.MyCommand) { $name = [string]$_.InvocationInfo.MyCommand.Name }
$failure = @{ error = @{ cmdlet = $name; message = [string]$_.Exception.Message } }
[Console]::Out.WriteLine((ConvertTo-Json -InputObject $failure -Depth 4 -Compress))
exit 1
}
