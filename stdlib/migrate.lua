-- Changes Weaviate cannot make in place (a property's type or tokenization, the
-- vectorizer), for migrations, without downtime: the same as stdlib/migrate.rhai.
--
--   local m = require("stdlib/migrate")
--   function up()
--       local def = cluster.collection("BooksV1")
--       def.class = "BooksV2"
--       for _, p in ipairs(def.properties) do
--           if p.name == "year" then p.dataType = { "int" } end
--       end
--       m.switch_collection("Books", "BooksV1", def, function(o)
--           o.properties.year = tonumber(o.properties.year); return o end)
--   end
--   function down() m.switch_back("Books", "BooksV1", "BooksV2") end

local M = {}

-- Create the collection to_def describes, copy every object of `from` into it
-- through transform(object) -> object or nil (nil transform: unchanged), then
-- point `alias` at it (created when missing).
function M.switch_collection(alias, from, to_def, transform)
    local to = to_def.class
    local before = cluster.alias(alias)
    if before ~= nil and before.class ~= from then
        error({ message = "alias " .. alias .. " points at " .. before.class .. ", not " .. from,
                hint = "switch from the collection the alias points at now (cluster.alias(name))" })
    end
    cluster.create_collection(to_def)
    local copy
    if transform == nil then copy = cluster.copy_objects(from, to) else copy = cluster.copy_objects(from, to, transform) end
    if before == nil then cluster.create_alias(alias, to) else cluster.update_alias(alias, to) end
    return { alias = alias, from = from, to = to, copied = copy.copied, skipped = copy.skipped }
end

-- Undo switch_collection: point `alias` back at `from` at once, then drop `to`.
function M.switch_back(alias, from, to)
    if cluster.alias(alias) == nil then cluster.create_alias(alias, from) else cluster.update_alias(alias, from) end
    cluster.delete_collection(to)
end

return M
