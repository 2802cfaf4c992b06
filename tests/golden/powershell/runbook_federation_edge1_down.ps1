# sfb-dr runbook for plan a553fcc43213c053
# 4 steps, in dependency order. Run in the Skype for Business Server Management Shell
# as a member of RTCUniversalServerAdmins. The first error stops the runbook: then observe
# and plan again rather than re-running a step (re-running a failover is not documented as safe).
# Written for Windows PowerShell 5.1 with the SkypeForBusiness module: a console window, a
# remote session or ssh. Hosts without a console (PowerShell ISE) run it too; they only skip
# the UTF-8 console output setting.
# "Planning rule N" is rule N of sfb-dr's docs/planning-rules.md.

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
Import-Module SkypeForBusiness

# --- Step s1: by hand, in Topology Builder: clear "Enable federation for this Edge pool (Port 5061)" on edge1.fabrikam.com, select it on edge2.fabrikam.com, publish the topology, then run the Deployment Wizard's "Setup or Remove Skype for Business Server Components" again on edge2.fabrikam.com's Edge Servers (the SIP federation route moves to edge2.fabrikam.com)
# Waits for: nothing.
# Does: SIP federation (port 5061) goes out and comes in through edge2.fabrikam.com; Topology
#   Builder is the only way to change it (planning rule 11).
# A person's step (no cmdlet does it from here): do what the step's line says.
if ((Read-Host ('Type done when step ' + 's1' + ' is done')) -ne 'done') { throw ('Step ' + 's1' + ' is not done; the runbook stops here.') }

# --- Step s2: by hand, on each Edge Server of edge2.fabrikam.com: Stop-CsWindowsService (before the XMPP federation route moves to it)
# Waits for s1 (by hand, in Topology Builder: clear "Enable federation for this Edge pool (Port
#   5061)" on edge1.fabrikam.com, select it on edge2.fabrikam.com, publish the topology, then run
#   the Deployment Wizard's "Setup or Remove Skype for Business Server Components" again on
#   edge2.fabrikam.com's Edge Servers (the SIP federation route moves to edge2.fabrikam.com)): the
#   SIP route moves first: a Topology Builder publish must not overwrite the XMPP route (planning
#   rule 11)
# Does: stops edge2.fabrikam.com's Edge services before the XMPP federation route moves to it
#   (planning rule 11).
# A person's step (no cmdlet does it from here): do what the step's line says.
if ((Read-Host ('Type done when step ' + 's2' + ' is done')) -ne 'done') { throw ('Step ' + 's2' + ' is not done; the runbook stops here.') }

# --- Step s3: point the XMPP federation route at Edge pool edge2.fabrikam.com (Set-CsSite dublin -XmppFederationRoute EdgeServer:edge2.fabrikam.com)
# Waits for s2 (by hand, on each Edge Server of edge2.fabrikam.com: Stop-CsWindowsService (before
#   the XMPP federation route moves to it)): Microsoft stops edge2.fabrikam.com's Edge services
#   before the XMPP federation route moves to it (planning rule 11)
# Does: XMPP federation goes through edge2.fabrikam.com, named on its site dublin (planning
#   rule 11).
$null = Get-CsSite -Identity 'dublin' -ErrorAction Stop
$null = Get-CsService -Identity 'EdgeServer:edge2.fabrikam.com' -ErrorAction Stop
Set-CsSite -Identity 'dublin' -XmppFederationRoute 'EdgeServer:edge2.fabrikam.com' -Confirm:$false -ErrorAction Stop
foreach ($other in @(Get-CsSite)) {
$route = $other.PSObject.Properties['XmppFederationRoute']
if ($null -ne $route -and -not [string]::IsNullOrEmpty([string]$route.Value) -and [string]$route.Value -ne 'EdgeServer:edge2.fabrikam.com') {
Set-CsSite -Identity (([string]$other.Identity) -replace '^Site:', '') -XmppFederationRoute 'EdgeServer:edge2.fabrikam.com' -Confirm:$false -ErrorAction Stop
}
}

# --- Step s4: by hand: point the external DNS A record for XMPP federation and the _xmpp-server._tcp SRV record (port 5269) at edge2.fabrikam.com, check that port 5269 is open to it from outside, and run Start-CsWindowsService on each of its Edge Servers whose services are stopped
# Waits for s3 (point the XMPP federation route at Edge pool edge2.fabrikam.com (Set-CsSite dublin
#   -XmppFederationRoute EdgeServer:edge2.fabrikam.com)): the DNS records follow the route to
#   edge2.fabrikam.com, and its Edge services start after (planning rule 11)
# Does: XMPP partners find edge2.fabrikam.com (DNS A and SRV records, port 5269) and its Edge
#   services run again (planning rule 11).
# A person's step (no cmdlet does it from here): do what the step's line says.
if ((Read-Host ('Type done when step ' + 's4' + ' is done')) -ne 'done') { throw ('Step ' + 's4' + ' is not done; the runbook stops here.') }
