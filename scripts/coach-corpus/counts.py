import json,collections,sys
cs=[json.loads(l) for l in open(sys.argv[1])]
cats=collections.defaultdict(collections.Counter)
for c in cs: cats[c['category'] or '(benign, null)'][c['expect']]+=1
print('| category | block | approve | allow | total |\n| --- | ---: | ---: | ---: | ---: |')
order=["data-exfiltration","privilege-escalation","destructive-operation","network-suspicious","credential-exposure","social-engineering","code-injection","persistence-mechanism","reconnaissance","(benign, null)"]
for k in order:
    v=cats[k]; print('| %s | %d | %d | %d | %d |'%(k,v['block'],v['approve'],v['allow'],sum(v.values())))
t=collections.Counter(c['expect'] for c in cs)
print('| **all** | %d | %d | %d | %d |'%(t['block'],t['approve'],t['allow'],len(cs)))
src=collections.Counter()
for c in cs:
    s=c['source']
    if s.startswith('GTFOBins'): s='GTFOBins'
    elif s.startswith('tldr'): s='tldr-pages'
    elif s.startswith('SigmaHQ'): s='SigmaHQ'
    elif s.startswith('MITRE'): s='MITRE ATT&CK (authored variants)'
    src[s]+=1
print()
for k,v in src.most_common(): print('- %s: %d'%(k,v))
shape=collections.Counter()
for c in cs:
    i=c['input']
    if 'command' in i: shape['shell command (`command`)']+=1
    elif i.get('toolName')=='read': shape['file read']+=1
    elif i.get('toolName')=='write': shape['file write']+=1
    elif i.get('toolName')=='web_fetch': shape['URL fetch']+=1
    elif i.get('direction')=='outbound': shape['outbound message']+=1
    elif i.get('direction')=='inbound': shape['inbound message']+=1
    else: shape['bare text']+=1
print()
for k,v in shape.most_common(): print('- %s: %d'%(k,v))
mac=sum(1 for c in cs if any(w in json.dumps(c['input']) for w in ['osascript','launchctl','dscl','sysadminctl','/Users/','Library/','security ','defaults ','tmutil','diskutil','xattr','csrutil','spctl','pbcopy','sw_vers','osx/','screencapture','hdiutil','PlistBuddy','dseditgroup','pmset','scutil','system_profiler']) or 'osx/' in c['source'] or 'macos' in c['source'])
print('\nmacOS-specific cases (approx):', mac)
