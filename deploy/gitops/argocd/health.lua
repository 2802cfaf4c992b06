-- Argo CD health of an sfb-dr resource (Topology, Site, PoolPair or CentralManagementStore),
-- read from its conditions as kstatus defines them. Argo CD sets `obj` to the resource and
-- takes the table this returns. Only Lua's base functions are used.

local function find(conditions, wanted)
  for _, c in ipairs(conditions) do
    if c.type == wanted then
      return c
    end
  end
  return nil
end

local function text(c)
  local reason = c.reason or ""
  local message = c.message or ""
  if message == "" then
    return reason
  end
  if reason == "" then
    return message
  end
  return reason .. ": " .. message
end

local function health(status, message)
  return { status = status, message = message }
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local status = obj.status
if status == nil or status.conditions == nil then
  return health("Progressing", "Waiting for the operator to report on this resource")
end
local conditions = status.conditions

-- A condition counts only if it was written for the current spec: after a change, what the
-- operator said about the old one is no verdict on the new one.
local function current(c)
  if c == nil then
    return false
  end
  local seen = c.observedGeneration
  if seen == nil then
    seen = status.observedGeneration
  end
  return generation == nil or seen == nil or seen >= generation
end

local ready = find(conditions, "Ready")
if not current(ready) then
  local message = "Waiting for the operator to observe this resource"
  if generation ~= nil then
    message = message .. " (generation " .. tostring(generation) .. ")"
  end
  return health("Progressing", message)
end

local stalled = find(conditions, "Stalled")
if current(stalled) and stalled.status == "True" then
  return health("Degraded", text(stalled))
end

-- Nothing starts while a person holds it: the Topology is paused, or its plan waits for approval.
if obj.spec ~= nil and obj.spec.paused == true then
  return health("Suspended", "Paused: spec.paused is true, no step starts")
end
local awaiting = find(conditions, "AwaitingApproval")
if current(awaiting) and awaiting.status == "True" then
  return health("Suspended", text(awaiting))
end

if ready.status == "True" then
  return health("Healthy", text(ready))
end
if ready.reason == "Paused" or ready.reason == "AwaitingApproval" then
  return health("Suspended", text(ready))
end

local reconciling = find(conditions, "Reconciling")
if current(reconciling) and reconciling.status == "True" then
  -- The operator retries, but it cannot see the deployment until the driver answers.
  if reconciling.reason == "ObserveFailed" then
    return health("Degraded", text(reconciling))
  end
  return health("Progressing", text(reconciling))
end
if ready.status == "False" then
  return health("Degraded", text(ready))
end
return health("Progressing", text(ready))
