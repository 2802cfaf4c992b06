Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false
[Console]::Out.WriteLine('sfb-dr: started')
try {
Import-Module SkypeForBusiness -ErrorAction Stop
Set-CsEdgeServer -Identity 'EdgeServer:edge1.contoso.com' -Registrar 'Registrar:pool2.contoso.com' -Confirm:$false -ErrorAction Stop
[Console]::Out.WriteLine('{"ok":true}')
} catch {
$name = 'Set-CsEdgeServer'
if ($_.InvocationInfo -and $_.InvocationInfo.MyCommand) { $name = [string]$_.InvocationInfo.MyCommand.Name }
[Console]::Out.WriteLine((ConvertTo-Json -InputObject @{ error = @{ cmdlet = $name; message = [string]$_.Exception.Message } } -Depth 4 -Compress))
exit 1
}
