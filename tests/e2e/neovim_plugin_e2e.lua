-- Drives the Baton Neovim plugin (client-nvim/) in Neovim 0.7, headless:
--   nvim --headless -u NONE -i NONE -n -c 'luafile neovim_plugin_e2e.lua'
-- Config from $NVIM_E2E_CONFIG: {root, python, options, task, result, plugin}.
-- The user's answer to "Apply it?" is the config's `confirm` function: it records the diff it
-- was shown and accepts. What happened goes to `result` as JSON; exit 0, or `cquit 2`.

local config = vim.fn.json_decode(table.concat(vim.fn.readfile(os.getenv('NVIM_E2E_CONFIG')), '\n'))
local WAIT_MS = config.wait_ms or 90000
local result = { errors = {}, echoes = {}, statuslines = {}, messages = {}, confirms = {} }

local function fail(message) table.insert(result.errors, message) end
local function wait(what, predicate)
  local ok = vim.wait(WAIT_MS, predicate, 20)
  if not ok then fail('timed out waiting for ' .. what) end
  return ok
end

vim.opt.runtimepath:prepend(config.plugin)
local baton = require('baton')
baton.setup({
  python = config.python,
  settings = config.options,
  echo = function(text)
    table.insert(result.echoes, text)
    table.insert(result.statuslines, baton.statusline())
  end,
  confirm = function(summary, lines)
    table.insert(result.confirms, { summary = summary, diff = lines,
                                    stats_before = vim.fn.readfile(config.root .. '/textkit/stats.py') })
    return true
  end,
})
baton.handlers['window/showMessage'] = function(_, params) table.insert(result.messages, params.message) end

local function run()
  vim.cmd('edit ' .. vim.fn.fnameescape(config.root .. '/textkit/stats.py'))
  result.commands = vim.fn.exists(':BatonRun') == 2 and vim.fn.exists(':BatonRunModule') == 2
    and vim.fn.exists(':BatonCancel') == 2 and vim.fn.exists(':BatonRuns') == 2
  vim.cmd('BatonCancel') -- nothing to cancel yet: says so, starts the server
  baton.run_module(nil, config.task) -- the current file's folder: textkit/
  if not wait('the run to start', function() return baton.last_run ~= nil end) then return end
  local id = baton.last_run
  result.run_id = id
  local function done()
    local r = baton.runs[id]
    return r and (r.status == 'succeeded' or r.status == 'failed' or r.status == 'cancelled')
  end
  if not wait('the run to finish', done) then return end
  result.final = baton.runs[id]
  wait('the confirmation', function() return #result.confirms > 0 end)
  wait('the outcome message', function()
    for _, m in ipairs(result.messages) do
      if m:find('changes applied', 1, true) then return true end
    end
    return false
  end)
  result.windows = {}
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    table.insert(result.windows, vim.api.nvim_buf_get_name(vim.api.nvim_win_get_buf(win)))
  end
  vim.cmd('silent! wall')
  vim.cmd('BatonRuns')
  wait('the runs list', function() return #vim.fn.getqflist() > 0 end)
  result.quickfix = {}
  for _, item in ipairs(vim.fn.getqflist()) do
    table.insert(result.quickfix, { text = item.text, file = vim.api.nvim_buf_get_name(item.bufnr) })
  end
end

local ok, err = pcall(run)
if not ok then fail('lua error: ' .. tostring(err)) end
if baton.client_id then
  vim.lsp.stop_client(baton.client_id)
  vim.wait(10000, function() return vim.lsp.client_is_stopped(baton.client_id) end, 20)
end
local wrote = pcall(function() vim.fn.writefile({ vim.fn.json_encode(result) }, config.result) end)
if not wrote then vim.cmd('cquit 2') end
vim.cmd('qall!')
