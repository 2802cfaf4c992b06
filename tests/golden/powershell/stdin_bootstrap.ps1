$ErrorActionPreference = 'Stop'
$sfbdrIn = New-Object System.IO.StreamReader([Console]::OpenStandardInput(), (New-Object System.Text.UTF8Encoding $false))
$sfbdrScript = $sfbdrIn.ReadToEnd()
if ($sfbdrScript.Length -ne 6711) { [Console]::Out.WriteLine('{"error":{"cmdlet":"sfb-dr","message":"the script arrived incomplete; nothing was run","acted":false}}'); exit 1 }
& ([scriptblock]::Create($sfbdrScript))
