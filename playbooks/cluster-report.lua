--! Cluster report: nodes, RAFT and collections. The same report as cluster-report.rhai.
--! @flag -j --json Print the report as JSON instead of tables

-- Gather: everything below is read from the cluster's REST API.
local nodes = cluster.nodes({verbose = true}).nodes
local raft = cluster.raft()
local leaders, seen, voters = {}, {}, 0
for _, s in ipairs(raft.statistics) do
  if s.leaderId and s.leaderId ~= "" and not seen[s.leaderId] then
    seen[s.leaderId] = true
    table.insert(leaders, s.leaderId)
  end
  if s.isVoter == true then voters = voters + 1 end
end
local node_rows = array()
for _, n in ipairs(nodes) do
  local stats = n.stats or {}
  table.insert(node_rows, {node = n.name, status = n.status, version = n.version,
    objects = stats.objectCount or 0, shards = stats.shardCount or 0})
end
local collection_rows = array()
for _, name in ipairs(cluster.collections()) do
  local def = cluster.collection(name)
  local factor = def.replicationConfig and def.replicationConfig.factor or 1
  table.insert(collection_rows, {collection = name, objects = cluster.count(name), replication = factor})
end
local report = {
  configured_nodes = config.get("weaviate.nodes"),
  members = #nodes,
  leader = (#leaders == 1) and leaders[1] or "none",
  voters = voters,
  synchronized = raft.synchronized == true,
  nodes = node_rows,
  collections = collection_rows,
}

-- Print.
if args.json then
  out.json(report)
else
  out.line("Weaviate cluster report")
  out.line("members: " .. report.members .. "/" .. report.configured_nodes .. "  leader: " .. report.leader
    .. "  voters: " .. report.voters .. "  synchronized: " .. tostring(report.synchronized))
  out.table(node_rows, {"node", "status", "version", "objects", "shards"})
  if #collection_rows == 0 then
    out.line("no collections")
  else
    out.table(collection_rows, {"collection", "objects", "replication:Replication factor"})
  end
end
