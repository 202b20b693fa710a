--! Rolling restart: one Weaviate node at a time, each back and ready before the next goes down,
--! so a collection replicated on every node keeps answering; then a health check.
--! @flag --timeout <SECONDS:int> Seconds each node gets to be ready again [default: 180]
--! @flag -j --json Print the restart and the health report as JSON

local restart = service.restart("weaviate", {rolling = true, timeout = args.timeout})
local health = health.check({cluster = true, quick = true})
if args.json then
  out.json({restart = restart, health = health})
else
  local names = {}
  for _, n in ipairs(restart.nodes or {}) do table.insert(names, tostring(n.node)) end
  out.line("restarted one at a time: " .. table.concat(names, ", "))
  out.line("cluster: " .. health.status)
end
return health.exit_code
