;;; emacs_e2e.el --- Baton's language server from Emacs + eglot, in batch mode  -*- lexical-binding: t; -*-
;; emacs --batch -q -l emacs_e2e.el, config from $EMACS_E2E_CONFIG (JSON):
;;   {root, python, task, result, options_json}
;; eglot 1.9 has no window.workDoneProgress: the run's milestones arrive as window/showMessage,
;; recorded here. eglot's y/n question before the edit is answered yes (and recorded), and the
;; buffers are saved. What happened is written to `result' as JSON.

(package-initialize)
(require 'cl-lib)
(require 'json)
(require 'eglot)
(require 'project)

(defvar baton-e2e-messages nil)
(defvar baton-e2e-errors nil)
(defvar baton-e2e-prompts nil)

;; eglot 1.9 asks "Server wants to edit ... Proceed?" whenever an edit touches a file that no
;; buffer visits, whatever `eglot-confirm-server-initiated-edits' says; batch mode has no
;; terminal to answer it (the request then fails with "Internal error"). Answer yes, as the user
;; would (or no, when $EMACS_E2E_ANSWER is "no"), and record the question.
(advice-add 'y-or-n-p :override
            (lambda (prompt) (push prompt baton-e2e-prompts) (not (equal (getenv "EMACS_E2E_ANSWER") "no"))))

(cl-defmethod eglot-handle-notification :before
  (_server (_method (eql window/showMessage)) &key type message)
  (push (list type message) baton-e2e-messages))

(let* ((config (json-parse-string
                (with-temp-buffer (insert-file-contents (getenv "EMACS_E2E_CONFIG")) (buffer-string))
                :object-type 'alist))
       (root (file-name-as-directory (alist-get 'root config)))
       (options (json-parse-string (alist-get 'options_json config) :object-type 'plist))
       (result-file (alist-get 'result config))
       (run-id nil))
  (setq eglot-confirm-server-initiated-edits nil
        eglot-sync-connect t)  ; block until the server answered initialize (a loaded machine is slow)
  (condition-case err
      (progn
        (find-file (expand-file-name "textkit/stats.py" root))
        (python-mode)
        (let* ((project (project-current nil root))
               (contact (list (alist-get 'python config) "-m" "baton.server" :initializationOptions options)))
          (eglot '(python-mode) project 'eglot-lsp-server contact "python")
          (let* ((server (eglot-current-server))
                 (answer (eglot-execute-command server "baton.planImplementReview"
                                                (vector (list :task (alist-get 'task config)))))
                 (deadline (+ (float-time) 180)))
            (setq run-id (plist-get answer :runId))
            (while (and (< (float-time) deadline)
                        (not (cl-find-if (lambda (m) (string-match-p "changes applied\\|not applied\\|”: failed"
                                                                         (cadr m)))
                                         baton-e2e-messages)))
              (accept-process-output nil 0.05))
            (when (getenv "EMACS_E2E_EVENTS")
              (with-current-buffer (jsonrpc-events-buffer server)
                (write-region (point-min) (point-max) (getenv "EMACS_E2E_EVENTS"))))
            (save-some-buffers t)
            (eglot-shutdown server))))
    (error (push (format "%S" err) baton-e2e-errors)))
  (with-temp-file result-file
    (insert (json-encode `((run_id . ,run-id)
                           (errors . ,(vconcat (reverse baton-e2e-errors)))
                           (prompts . ,(vconcat (reverse baton-e2e-prompts)))
                           (messages . ,(vconcat (mapcar (lambda (m) `((type . ,(car m)) (message . ,(cadr m))))
                                                         (reverse baton-e2e-messages))))))))
  (kill-emacs 0))
