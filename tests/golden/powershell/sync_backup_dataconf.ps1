Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
[Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false
[Console]::Out.WriteLine('sfb-dr: started')
try {
Import-Module SkypeForBusiness -ErrorAction Stop
Invoke-CsBackupServiceSync -PoolFqdn 'pool2.contoso.com' -BackupModule 'ConfServices.DataConf' -ErrorAction Stop
[Console]::Out.WriteLine('{"ok":true}')
} catch {
$name = 'Invoke-CsBackupServiceSync'
if ($_.InvocationInfo -and $_.InvocationInfo.MyCommand) { $name = [string]$_.InvocationInfo.MyCommand.Name }
[Console]::Out.WriteLine((ConvertTo-Json -InputObject @{ error = @{ cmdlet = $name; message = [string]$_.Exception.Message } } -Depth 4 -Compress))
exit 1
}
