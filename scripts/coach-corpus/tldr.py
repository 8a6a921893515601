"""Benign everyday commands from tldr-pages (pages/common, linux, osx), placeholders filled with
realistic project values. Examples that touch anything risky (deletion, privileges, secrets,
disks, accounts, scanning, shells from the network) are left out here: the risky kinds are
authored separately with deliberate labels, so every tldr case can honestly be `allow`.
"""
import glob
import os
import re

from common import case, hashpick

RISKY_PAGE = re.compile(
    r"^(nmap|masscan|zmap|hydra|john|hashcat|sqlmap|nikto|msf.*|aircrack.*|air.*-ng|ettercap|responder|"
    r"crackmapexec|netexec|impacket.*|hping.*|arpspoof|macchanger|tcpdump|tshark|wireshark|ngrep|"
    r"security|dscl|sysadminctl|dseditgroup|launchctl|csrutil|spctl|tmutil|diskutil|shred|srm|wipe.*|"
    r"crontab|at|atq|atrm|batch|chroot|keyctl|pass|vault|op|bw|mkfs.*|fdisk|gdisk|sfdisk|parted|dd|"
    r"ddrescue|badblocks|cryptsetup|useradd|userdel|usermod|groupadd|groupdel|groupmod|passwd|chpasswd|"
    r"visudo|sudo|su|doas|pkexec|chmod|chown|chgrp|chattr|setcap|iptables.*|ip6tables|nft|ufw|firewall-cmd|"
    r"insmod|rmmod|modprobe|nc|ncat|netcat|socat|telnet|eval|exec|rm|rmdir|kill|killall|pkill|xkill|"
    r"reboot|shutdown|halt|poweroff|mount|umount|swapoff|swapon|truncate|history|unlink|dsenableroot|"
    r"osascript|defaults|plutil|xattr|codesign|pwpolicy|fdesetup|nvram|bless|kextload|kextunload|"
    r"ssh-keygen|ssh-add|ssh-copy-id|gpg.*|openssl|certutil|keytool|steghide|hashid|medusa|ncrack|"
    r"gobuster|ffuf|dirb|wfuzz|whatweb|wpscan|amass|subfinder|theharvester|recon-ng|searchsploit|"
    r"proxychains|tor|torsocks|iodine|dnscat.*|ptunnel|sshuttle|chisel|frp.*|ngrok|cloudflared|"
    r"xmrig|cpuminer|minerd|base64|base32|xxd|hexdump|strings|od|nsenter|unshare|capsh|setpriv|"
    r"systemctl|systemd-run|service|update-rc\.d|chkconfig|launchd|loginwindow|auditctl|setenforce|"
    r"lastb|last|lastlog|utmpdump|who|w|finger|pinky|getent|sqlite3|mysql|psql|redis-cli|mongo.*|"
    r"chntpw|samdump2|pwdump|bkhive|systemsetup|nohup|disown|setsid|screen|tmux|script|expect|unbuffer|rlwrap|yes|watch)$")

RISKY_TEXT = re.compile(
    r"\b(rm|rmdir|shred|wipe\w*|mkfs\S*|dd|fdisk|kill\w*|reboot|shutdown|halt|passwd|user(add|del|mod)|"
    r"sudo|su|doas|chmod|chown|chattr|setcap|iptables|nc|ncat|socat|nmap|eval|exec|mount|truncate|"
    r"delete|remove|purge|prune|drop|destroy|erase|reset|revoke|flush\w*|clean|clear|uninstall|"
    r"secret\w*|token\w*|password\w*|passphrase|private|credential\w*|keys?|keyring|keychain|shadow|"
    r"sudoers|authorized_keys|history|cookie\w*|login|auth\w*|vpn|proxy|tunnel|listen|serve|server|"
    r"root|admin\w*|sniff|capture|crack|brute|exploit|payload|inject\w*|hook|cron|daemon|service|"
    r"force|overwrite|wipe|format|partition|disk\w*|firmware|boot\w*|kernel|module|setuid|suid|"
    r"unpublish|sam|ptrace|attach|debug|dump|upload|publish|share|expose|public|anonymous|spoof|forward|relay)\b"
    r"|-rf\b|-fr\b|--force|\| *(ba|z)?sh\b|/dev/|/etc/|~/\.|\$HOME/\.|0\.0\.0\.0|--privileged|:/:|\{\{command\}\}"
    r"|\{\{password\}\}|[;&|]{2}|`|\$\(|>\s*/|\bdocker run\b.*-v\s*/", re.I)

PATHS = {
    "file": ["README.md", "notes.txt", "src/main.rs", "docs/index.md", "data/report.csv", "app.log"],
    "directory": ["src", "docs", "build", "assets", "tests", "~/projects/webapp"],
    "file_or_directory": ["src", "README.md", "docs"],
    "file1": ["notes.txt"], "file2": ["todo.txt"],
}
WORDS = {
    "username": ["deploy", "alice", "dev"], "user": ["deploy", "alice"], "package": ["ripgrep", "jq", "htop"],
    "package_name": ["requests", "lodash", "serde"], "name": ["webapp", "api", "demo"], "value": ["true", "42"],
    "example.com": ["example.com"], "port": ["8080", "5432", "3000"], "host": ["staging.example.com"],
    "hostname": ["build01.internal"], "domain": ["example.com"], "url": ["https://example.com/docs"],
    "https://example.com": ["https://example.com"], "version": ["1.2.3"], "target": ["release"],
    "container_name": ["webapp-db"], "ip_address": ["192.168.1.20"], "n": ["5"], "pattern": ["TODO"],
    "tag": ["v1.4.0"], "project_name": ["webapp"], "image": ["nginx:1.27"], "branch_name": ["feature/login-form"],
    "number": ["3"], "unit": ["nginx.service"], "message": ["Fix typo in README"], "pid": ["4821"],
    "database_name": ["app_dev"], "repository": ["acme/webapp"], "regex": ["^ERROR"], "search_pattern": ["TODO"],
    "string": ["hello"], "profile_name": ["dev"], "variable": ["EDITOR"], "keyword": ["timeout"],
    "remote_name": ["origin"], "group_name": ["developers"], "task_id": ["17"], "commit": ["HEAD~1"],
    "subcommand": ["status"], "width": ["800"], "height": ["600"], "text": ["hello world"],
    "query": ["rust async"], "owner": ["acme"], "container": ["webapp-db"], "service": ["web"],
    "namespace": ["dev"], "region": ["eu-west-1"], "bucket_name": ["acme-assets-dev"], "filename": ["notes.txt"],
    "directory": ["src"], "path": ["src"], "term": ["vim"], "id": ["42"], "node": ["node1"], "language": ["en"],
}


def fill_path(inner, key):
    inner = inner.strip()
    m = re.match(r"^path/to/(.*)$", inner)
    if m:
        rest = m.group(1)
        if " " in rest:
            return "notes.txt todo.txt"
        rest = re.sub(r"\[([^|\]]*)\|[^\]]*\]", r"\1", rest)
        if rest in PATHS:
            return hashpick(PATHS[rest], key)
        base = os.path.basename(rest)
        return hashpick(["", "project/", "docs/", "build/"], key) + base
    return None


def fill(cmd, page):
    def alt(m):
        opts = m.group(1).split("|")
        return hashpick(opts, page + m.group(0))

    cmd = re.sub(r"\{\{\[([^\]{}]*)\]\}\}", alt, cmd)
    def ph(m):
        inner = m.group(1)
        p = fill_path(inner, page + inner)
        if p is not None:
            return p
        if inner in WORDS:
            return hashpick(WORDS[inner], page + inner)
        if re.match(r"^[\w.:/@*+-]+$", inner) and not re.search(r"[a-z]_[a-z]", inner):
            return inner  # already a concrete example value (8080, *.html, example.com)
        return None

    out = []
    for part in re.split(r"(\{\{.*?\}\})", cmd):
        m = re.match(r"^\{\{(.*)\}\}$", part)
        if m:
            v = ph(m)
            if v is None:
                return None
            out.append(v)
        else:
            out.append(part)
    s = "".join(out)
    if "{{" in s or "}}" in s or "..." in s:
        return None
    return s


def examples(root):
    for d in ("common", "linux", "osx"):
        for f in sorted(glob.glob(os.path.join(root, "pages", d, "*.md"))):
            page = os.path.basename(f)[:-3]
            if RISKY_PAGE.match(page):
                continue
            for line in open(f, encoding="utf-8"):
                m = re.match(r"^`(.+)`\s*$", line.strip())
                if m:
                    yield d, page, m.group(1)


# Everyday developer and admin pages: the benign majority an agent actually runs.
EVERYDAY = set("""git git-log git-diff git-status git-commit git-branch git-checkout git-switch git-rebase git-merge
git-stash git-tag git-remote git-fetch git-pull git-push git-clone git-add git-show git-blame git-grep git-restore
git-cherry-pick git-bisect git-worktree git-config git-describe git-shortlog git-reflog git-submodule git-mv
ls cat less head tail grep rg find fd sed awk sort uniq wc cut tr xargs diff cmp tee touch mkdir cp mv ln
tar gzip gunzip zip unzip xz zstd 7z rsync scp ssh curl wget http jq yq du df free top htop ps pgrep lsof
ss netstat ip ping dig nslookup host traceroute mtr whois date cal env printenv which whereis type file stat
realpath basename dirname readlink md5sum sha256sum shasum npm npx yarn pnpm node deno bun python python3 pip
pip3 pipx poetry uv cargo rustc rustup go gofmt java javac mvn gradle make cmake gcc clang ld gdb valgrind
docker docker-compose docker-build docker-ps docker-images docker-logs podman kubectl helm minikube kind
terraform ansible aws az gcloud gh glab brew apt apt-get apt-cache dpkg dnf yum pacman snap flatpak
journalctl dmesg uname hostname uptime whoami id groups locale timedatectl hostnamectl nproc lscpu lsblk
lsusb lspci sw_vers system_profiler pbcopy pbpaste open mdfind mdls say caffeinate pmset networksetup
scutil sips textutil ditto hdiutil softwareupdate xcode-select xcrun swift pod carthage mas brew-services
vim nano code emacs tmux-ls bat exa eza tree ncdu fzf zoxide direnv tldr man info nl fmt column paste join
split csplit od comm expand unexpand printf echo seq shuf factor bc expr test true false sleep time timeout
nice renice ionice chrt watch-less pv parallel entr inotifywait fswatch convert magick ffmpeg ffprobe
pandoc pdftotext pdfinfo qpdf exiftool identify optipng jpegoptim gifsicle svgo sqlfluff black ruff flake8
mypy pylint pytest tox nox eslint prettier tsc vitest jest mocha webpack vite esbuild rollup parcel
rubocop bundle gem rake rails irb ruby php composer phpunit perl cpan lua luarocks R Rscript julia
ghc stack cabal dotnet mono elixir mix erl rebar3 zig nim crystal dart flutter kotlin kotlinc scala sbt
""".split())


def generate(root, rng, want):
    pool = []
    for d, page, raw in examples(root):
        if RISKY_TEXT.search(raw):
            continue
        c = fill(raw, page)
        if not c or RISKY_TEXT.search(c) or len(c) > 160:
            continue
        pool.append((d, page, c))
    # Everyday pages first (up to three examples each), then breadth from the rest (one each).
    rng.shuffle(pool)
    pool.sort(key=lambda t: t[1] not in EVERYDAY)
    per, out = {}, []
    for d, page, c in pool:
        if c.startswith(("<", "tldr ")) or per.get(page, 0) >= (3 if page in EVERYDAY else 1):
            continue
        per[page] = per.get(page, 0) + 1
        out.append(case(c, "allow", None, None, "tldr-pages: %s/%s" % (d, page)))
        if len(out) >= want:
            break
    return out
