-- Drives Baton's language server from Neovim 0.7's built-in LSP client, headless:
--   nvim --headless -u NONE -i NONE -n -c 'luafile neovim_e2e.lua'
-- (never `nvim -l` on 0.7: it means something else there and hangs).
-- Config comes from the JSON file named by $NVIM_E2E_CONFIG:
--   {root, python, options, task, result}
-- What happened is written to `result` as JSON for the pytest side to check; the editor
-- exits 0 after writing it, or `cquit 2` when even that fails.

local config_path = os.getenv('NVIM_E2E_CONFIG')
local config = vim.fn.json_decode(table.concat(vim.fn.readfile(config_path), '\n'))
local WAIT_MS = config.wait_ms or 90000

local result = {
  messages = {},      -- window/showMessage texts
  updates = {},       -- baton/runUpdate payloads
  progress = {},      -- $/progress kinds with their message/title
  edits = {},         -- answers Neovim gave to workspace/applyEdit
  edit_forms = {},    -- 'documentChanges' or 'changes' for each workspace/applyEdit
  errors = {},
}

local function write_result()
  local ok, err = pcall(function()
    vim.fn.writefile({ vim.fn.json_encode(result) }, config.result)
  end)
  if not ok then
    io.stderr:write('could not write the result: ' .. tostring(err) .. '\n')
    vim.cmd('cquit 2')
  end
end

local function fail(message)
  table.insert(result.errors, message)
end

local handlers = {
  ['window/showMessage'] = function(_, params, _)
    table.insert(result.messages, params.message)
  end,
  ['window/logMessage'] = function() end,
  ['baton/runUpdate'] = function(_, params, _)
    table.insert(result.updates, params)
  end,
  ['$/progress'] = function(err, params, ctx, cfg)
    local value = params.value or {}
    table.insert(result.progress, { kind = value.kind, title = value.title, message = value.message })
    return vim.lsp.handlers['$/progress'](err, params, ctx, cfg)
  end,
  ['workspace/applyEdit'] = function(err, params, ctx, cfg)
    table.insert(result.edit_forms, params.edit.documentChanges and 'documentChanges' or 'changes')
    local answer = vim.lsp.handlers['workspace/applyEdit'](err, params, ctx, cfg)
    table.insert(result.edits, answer)
    return answer
  end,
}

local root = config.root
local client_id = vim.lsp.start_client({
  name = 'baton',
  cmd = { config.python, '-m', 'baton.server' },
  root_dir = root,
  workspace_folders = { { uri = vim.uri_from_fname(root), name = 'proj' } },
  init_options = config.options,
  handlers = handlers,
})
if not client_id then
  fail('vim.lsp.start_client returned nil')
  write_result()
  vim.cmd('qall!')
end

vim.cmd('edit ' .. vim.fn.fnameescape(root .. '/textkit/stats.py'))
vim.lsp.buf_attach_client(0, client_id)
local client = vim.lsp.get_client_by_id(client_id)

local function wait(what, predicate)
  local ok = vim.wait(WAIT_MS, predicate, 20)
  if not ok then
    fail('timed out waiting for ' .. what)
  end
  return ok
end

local function request(method, params)
  local answer = { done = false }
  client.request(method, params, function(err, res)
    answer.err, answer.result, answer.done = err, res, true
  end, 0)
  wait(method .. ' to answer', function() return answer.done end)
  return answer
end

local function run()
  if not wait('the server to initialize', function() return client.initialized end) then
    return
  end
  result.commands = client.server_capabilities.executeCommandProvider
    and client.server_capabilities.executeCommandProvider.commands or {}

  -- a malformed argument: a JSON-RPC error naming the field
  local bad = request('workspace/executeCommand', { command = 'baton.planImplementReview', arguments = { { tsak = 'x' } } })
  result.bad_argument_error = bad.err and bad.err.message or vim.NIL

  local started = request('workspace/executeCommand',
    { command = 'baton.planImplementReview', arguments = { { task = config.task } } })
  if started.err then
    fail('planImplementReview failed: ' .. vim.inspect(started.err))
    return
  end
  local run_id = started.result.runId
  result.run_id = run_id

  local function final_update()
    for _, u in ipairs(result.updates) do
      if u.runId == run_id and (u.status == 'succeeded' or u.status == 'failed' or u.status == 'cancelled') then
        return u
      end
    end
  end
  if not wait('the run to finish', function() return final_update() ~= nil end) then
    return
  end
  result.final = final_update()
  if result.final.status ~= 'succeeded' then
    return
  end
  if not wait('the edit', function() return #result.edits > 0 end) then
    return
  end
  -- the outcome message comes right after the edit was answered
  wait('the outcome message', function()
    for _, m in ipairs(result.messages) do
      if m:find('changes applied', 1, true) or m:find('not applied', 1, true) then
        return true
      end
    end
    return false
  end)

  -- the review's findings arrive as diagnostics on the edited buffer
  wait('the diagnostics', function() return #vim.diagnostic.get(0) > 0 end)
  result.diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(0)) do
    table.insert(result.diagnostics, { lnum = d.lnum, source = d.source, message = d.message })
  end

  -- write every buffer the edit touched (the user saving)
  vim.cmd('silent! wall')
  result.modified_after_write = {}
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.api.nvim_buf_get_option(buf, 'modified') then
      table.insert(result.modified_after_write, vim.api.nvim_buf_get_name(buf))
    end
  end

  -- `{}` is an empty Lua table, which Neovim sends as []: the server takes it as {}
  local listed = request('workspace/executeCommand', { command = 'baton.listRuns', arguments = { {} } })
  if listed.err then
    fail('baton.listRuns failed: ' .. vim.inspect(listed.err))
  end
  result.runs = listed.result and listed.result.runs or vim.NIL
end

local ok, err = pcall(run)
if not ok then
  fail('lua error: ' .. tostring(err))
end

vim.lsp.stop_client(client_id)
vim.wait(10000, function() return vim.lsp.client_is_stopped(client_id) end, 20)
write_result()
vim.cmd('qall!')
