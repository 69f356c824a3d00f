-- Baton for Neovim: starts `python -m baton.server`, adds :BatonRun, :BatonRunModule,
-- :BatonCancel, :BatonContinue and :BatonRuns, opens plan.md and review.md in splits as they
-- arrive, shows progress in the message area and a statusline function, and shows the
-- proposed diff and asks before applying it (Neovim 0.7 ignores needsConfirmation and would
-- apply it unasked).
--
-- Works on Neovim 0.7 (vim.lsp.start_client + buf_attach_client); uses vim.lsp.start on
-- newer versions. Load it with any plugin manager (the repository's client-nvim/ folder is
-- the plugin) and call require('baton').setup({...}).

local M = {}

local defaults = {
  -- the interpreter that has Baton installed (pip install baton-lsp, or this repository)
  python = 'python3',
  cmd = nil, -- overrides {python, '-m', 'baton.server'}
  -- Baton settings, as the VS Code extension sends them: baseUrl, models, testCommand, ...
  settings = {},
  -- how a proposed change is confirmed: function(summary_lines, diff_lines) -> boolean
  confirm = nil,
  -- open plan.md / review.md in a split as they arrive
  open_artifacts = true,
  -- where progress goes: function(text) (default: echo in the message area)
  echo = nil,
}

M.config = vim.deepcopy(defaults)
M.runs = {} -- runId -> {task, status, step, message, verdict}
M.last_run = nil
M.client_id = nil

local function echo(text)
  if M.config.echo then
    M.config.echo(text)
  else
    vim.api.nvim_echo({ { text } }, false, {})
  end
end

local function short(task)
  task = (task or ''):gsub('\n.*', '')
  if #task > 50 then
    return task:sub(1, 49) .. '…'
  end
  return task
end

-- --------------------------------------------------------------------------- statusline

--- The latest run's state for a statusline: "Baton: implementing", or '' when idle.
function M.statusline()
  local run = M.last_run and M.runs[M.last_run]
  if not run then
    return ''
  end
  if run.status == 'running' then
    return 'Baton: ' .. (run.message or run.step or 'running')
  elseif run.status == 'waiting' then
    return 'Baton: waiting for you (plan.md, then :BatonContinue)'
  end
  return 'Baton: ' .. run.status .. (run.verdict and run.verdict ~= vim.NIL and (' (' .. run.verdict .. ')') or '')
end

-- --------------------------------------------------------------------------- handlers

local function on_run_update(_, params)
  if type(params) ~= 'table' or type(params.runId) ~= 'string' then
    return
  end
  local run = M.runs[params.runId] or {}
  run.task = params.task or run.task
  run.status = params.status
  run.step = params.step ~= vim.NIL and params.step or run.step
  run.message = params.message ~= vim.NIL and params.message or nil
  run.verdict = params.verdict
  M.runs[params.runId] = run
  M.last_run = params.runId
  local text = M.statusline()
  if run.status ~= 'running' and run.message then
    text = text .. ': ' .. run.message
  end
  echo(text .. ' — ' .. short(run.task))
end

local function on_artifact(_, params)
  if not M.config.open_artifacts or type(params) ~= 'table' or type(params.uri) ~= 'string' then
    return
  end
  local name = params.name or ''
  if name ~= 'plan.md' and name ~= 'review.md' and name ~= 'triage.md' then
    return
  end
  local path = vim.uri_to_fname(params.uri)
  vim.schedule(function()
    local existing = vim.fn.bufwinnr(path)
    if existing > 0 then
      vim.cmd(existing .. 'wincmd w')
      vim.cmd('silent! edit')
    else
      vim.cmd('split ' .. vim.fn.fnameescape(path))
    end
  end)
end

--- The text a URI has now: its loaded buffer, else the file (nil when it does not exist).
local function current_lines(uri)
  local bufnr = vim.uri_to_bufnr(uri)
  if vim.api.nvim_buf_is_loaded(bufnr) then
    return vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  end
  local path = vim.uri_to_fname(uri)
  if vim.fn.filereadable(path) == 1 then
    return vim.fn.readfile(path)
  end
  return nil
end

--- Each file's edits applied to a scratch copy: {uri, before, after} without touching buffers.
local function preview(edit, encoding)
  local per_uri = {}
  local order = {}
  local function add(uri, edits)
    if not per_uri[uri] then
      per_uri[uri] = {}
      table.insert(order, uri)
    end
    vim.list_extend(per_uri[uri], edits)
  end
  if edit.documentChanges then
    for _, change in ipairs(edit.documentChanges) do
      if change.textDocument then
        add(change.textDocument.uri, change.edits)
      elseif change.kind == 'create' then
        add(change.uri, {})
      end
    end
  end
  for uri, edits in pairs(edit.changes or {}) do
    add(uri, edits)
  end
  local out = {}
  for _, uri in ipairs(order) do
    local before = current_lines(uri) or {}
    local scratch = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_lines(scratch, 0, -1, false, before)
    vim.lsp.util.apply_text_edits(per_uri[uri], scratch, encoding or 'utf-16')
    local after = vim.api.nvim_buf_get_lines(scratch, 0, -1, false)
    vim.api.nvim_buf_delete(scratch, { force = true })
    table.insert(out, { uri = uri, before = before, after = after })
  end
  return out
end

--- The proposal as unified diff lines (vim.diff), one section per file.
local function diff_lines(files)
  local lines = {}
  for _, f in ipairs(files) do
    local name = vim.fn.fnamemodify(vim.uri_to_fname(f.uri), ':.')
    table.insert(lines, '--- a/' .. name)
    table.insert(lines, '+++ b/' .. name)
    local a = table.concat(f.before, '\n') .. '\n'
    local b = table.concat(f.after, '\n') .. '\n'
    local d = vim.diff(a, b, { result_type = 'unified', ctxlen = 3 })
    for _, l in ipairs(vim.split(d, '\n', { plain = true })) do
      if l ~= '' then
        table.insert(lines, l)
      end
    end
  end
  return lines
end

local function show_diff(lines)
  vim.cmd('botright new')
  local buf = vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].filetype = 'diff'
  vim.bo[buf].modifiable = false
  pcall(vim.api.nvim_buf_set_name, buf, 'baton://proposed.diff')
  vim.cmd('redraw')
  return buf
end

local function default_confirm(summary, lines)
  local buf = show_diff(lines)
  local choice = vim.fn.confirm(table.concat(summary, '\n') .. '\nApply it?', '&Apply\n&Discard', 2)
  if vim.api.nvim_buf_is_valid(buf) then
    vim.api.nvim_buf_delete(buf, { force = true })
  end
  return choice == 1
end

local function on_apply_edit(_, params, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  local files = preview(params.edit, client and client.offset_encoding)
  local lines = diff_lines(files)
  local summary = { params.label or 'Baton proposes a change', #files .. ' file(s):' }
  for _, f in ipairs(files) do
    table.insert(summary, '  ' .. vim.fn.fnamemodify(vim.uri_to_fname(f.uri), ':.'))
  end
  local confirm = M.config.confirm or default_confirm
  if not confirm(summary, lines) then
    echo('Baton: the proposed change was not applied; nothing was written')
    return { applied = false } -- no reason: the server takes it as declined, and says so
  end
  local ok, err = pcall(vim.lsp.util.apply_workspace_edit, params.edit, client and client.offset_encoding or 'utf-16')
  if not ok then
    return { applied = false, failureReason = tostring(err) }
  end
  return { applied = true }
end

M.handlers = {
  ['baton/runUpdate'] = on_run_update,
  ['baton/artifact'] = on_artifact,
  ['workspace/applyEdit'] = on_apply_edit,
}

-- --------------------------------------------------------------------------- the client

local function root_dir()
  local cwd = vim.loop.cwd()
  local found = vim.fn.finddir('.git', cwd .. ';')
  if found ~= '' then
    return vim.fn.fnamemodify(found, ':p:h:h')
  end
  return cwd
end

local function capabilities()
  local caps = vim.lsp.protocol.make_client_capabilities()
  -- negotiated with the server: it sends baton/artifact instead of path-only messages
  caps.experimental = { baton = { artifacts = true } }
  return caps
end

--- The Baton client for this editor, started (and attached to the current buffer) if needed.
function M.client()
  local client = M.client_id and vim.lsp.get_client_by_id(M.client_id)
  if client and not client.is_stopped() then
    pcall(vim.lsp.buf_attach_client, 0, M.client_id)
    return client
  end
  local root = root_dir()
  local config = {
    name = 'baton',
    cmd = M.config.cmd or { M.config.python, '-m', 'baton.server' },
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = vim.fn.fnamemodify(root, ':t') } },
    init_options = { baton = M.config.settings },
    capabilities = capabilities(),
    handlers = M.handlers,
  }
  if vim.lsp.start then -- 0.8+: reuses a running client for the same root
    M.client_id = vim.lsp.start(config)
  else
    M.client_id = vim.lsp.start_client(config)
  end
  if not M.client_id then
    error('Baton: could not start ' .. table.concat(config.cmd, ' '))
  end
  pcall(vim.lsp.buf_attach_client, 0, M.client_id)
  return vim.lsp.get_client_by_id(M.client_id)
end

local function execute(command, argument, on_result)
  local client = M.client()
  local function send()
    client.request('workspace/executeCommand', { command = command, arguments = { argument } }, function(err, result)
      if err then
        vim.notify('Baton: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      elseif on_result then
        on_result(result)
      end
    end, 0)
  end
  if client.initialized then
    send()
  else
    local timer = vim.loop.new_timer()
    timer:start(20, 20, vim.schedule_wrap(function()
      if client.initialized or client.is_stopped() then
        timer:stop()
        timer:close()
        if client.initialized then
          send()
        end
      end
    end))
  end
end

local function ask_task(task, prompt)
  if task and task ~= '' then
    return task
  end
  local answer = vim.fn.input(prompt)
  if answer == nil or vim.trim(answer) == '' then
    return nil
  end
  return answer
end

local function start_run(task, scope)
  local argument = { task = task }
  if scope then
    argument.scope = vim.uri_from_fname(scope)
  end
  execute('baton.planImplementReview', argument, function(result)
    M.runs[result.runId] = { task = task, status = 'running' }
    M.last_run = result.runId
    echo('Baton: started — ' .. short(task))
  end)
end

--- :BatonRun [task] — plan, implement and review on the whole workspace.
function M.run(task)
  task = ask_task(task, 'Baton task: ')
  if task then
    start_run(task, nil)
  end
end

--- :BatonRunModule [path] — on the current file's folder, or the given file or folder.
function M.run_module(path, task)
  local scope = path and path ~= '' and vim.fn.fnamemodify(path, ':p') or vim.fn.expand('%:p:h')
  scope = scope:gsub('/$', '')
  task = ask_task(task, 'Baton task for ' .. vim.fn.fnamemodify(scope, ':.') .. ': ')
  if task then
    start_run(task, scope)
  end
end

local function active_run(run_id)
  if run_id and run_id ~= '' then
    return run_id
  end
  for id, run in pairs(M.runs) do
    if id == M.last_run and (run.status == 'running' or run.status == 'waiting') then
      return id
    end
  end
  for id, run in pairs(M.runs) do
    if run.status == 'running' or run.status == 'waiting' then
      return id
    end
  end
  return nil
end

--- :BatonCancel [runId] — the latest active run by default.
function M.cancel(run_id)
  local id = active_run(run_id)
  if not id then
    echo('Baton: no active run to cancel')
    return
  end
  execute('baton.cancelRun', { runId = id }, function(result)
    echo(result.cancelled and ('Baton: cancelled; nothing was written') or 'Baton: that run had already ended')
  end)
end

--- :BatonContinue [runId] — release a run waiting at its plan (after editing plan.md).
function M.continue(run_id)
  local id = active_run(run_id)
  if not id then
    echo('Baton: no run is waiting at its plan')
    return
  end
  vim.cmd('silent! wall')
  execute('baton.continueRun', { runId = id })
end

--- The runs as lines ("status  task  id"), newest first; `callback(lines, runs)`.
function M.list_runs(callback)
  execute('baton.listRuns', { limit = 20 }, function(result)
    local lines = {}
    for _, r in ipairs(result.runs or {}) do
      local verdict = (r.verdict and r.verdict ~= vim.NIL) and (' (' .. r.verdict .. ')') or ''
      table.insert(lines, string.format('%-10s %s%s  [%s]', r.status, short(r.task), verdict, r.runId))
    end
    callback(lines, result.runs or {})
  end)
end

--- :BatonRuns — recent runs in the quickfix list; <CR> opens the run's review or plan.
function M.show_runs()
  M.list_runs(function(lines, runs)
    local items = {}
    for i, r in ipairs(runs) do
      local root = root_dir()
      local dir = root .. '/.baton/runs/' .. r.runId
      local file = vim.fn.filereadable(dir .. '/review.md') == 1 and dir .. '/review.md' or dir .. '/plan.md'
      table.insert(items, { filename = file, lnum = 1, text = lines[i] })
    end
    vim.fn.setqflist({}, ' ', { title = 'Baton runs', items = items })
    if #items == 0 then
      echo('Baton: no runs yet')
    else
      vim.cmd('copen')
    end
  end)
end

function M.setup(opts)
  M.config = vim.tbl_deep_extend('force', vim.deepcopy(defaults), opts or {})
  local function cmd(name, fn, nargs, desc)
    vim.api.nvim_create_user_command(name, function(o) fn(o.args) end, { nargs = nargs, desc = desc,
      complete = nargs == '?' and name == 'BatonRunModule' and 'file' or nil })
  end
  cmd('BatonRun', M.run, '*', 'Baton: plan, implement and review a task')
  cmd('BatonRunModule', M.run_module, '?', "Baton: run on this file's folder (or a path)")
  cmd('BatonCancel', M.cancel, '?', 'Baton: cancel a run')
  cmd('BatonContinue', M.continue, '?', 'Baton: continue a run waiting at its plan')
  cmd('BatonRuns', M.show_runs, 0, 'Baton: recent runs')
end

return M
