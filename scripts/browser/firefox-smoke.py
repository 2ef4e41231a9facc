# The seed workflow on the page in Firefox over raw WebDriver (geckodriver), standard library
# only. Run by scripts/browser/firefox-smoke.sh: firefox-smoke.py DRIVER_URL SIGN_IN_LINK.
import json, sys, time, urllib.request, base64
D = sys.argv[1]; LINK = sys.argv[2]
def wd(method, path, body=None):
    req = urllib.request.Request(D + path, method=method, data=json.dumps(body).encode() if body is not None else None, headers={"Content-Type": "application/json"})
    try:
        return json.loads(urllib.request.urlopen(req, timeout=60).read())["value"]
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{method} {path}: {e.read().decode()[:500]}")
s = wd("POST", "/session", {"capabilities": {"alwaysMatch": {"browserName": "firefox", "moz:firefoxOptions": {"binary": "/usr/bin/firefox-esr", "args": ["-headless", "--width=1280", "--height=1400"]}}}})
sid = s["sessionId"]; P = f"/session/{sid}"
print("firefox", s["capabilities"].get("browserVersion"))
def js(code, *args): return wd("POST", P + "/execute/sync", {"script": code, "args": list(args)})
def wait(what, code, t=30):
    end = time.time() + t
    while time.time() < end:
        if js(code): return
        time.sleep(0.2)
    shot("ff-failed"); raise SystemExit(f"timed out waiting for {what}: " + js("return document.body.innerText")[:2000])
def click(i):
    el = wd("POST", P + "/element", {"using": "css selector", "value": "#" + i})
    wd("POST", P + f"/element/{list(el.values())[0]}/click", {})
def shot(n):
    open(f"/tmp/{n}.png", "wb").write(base64.b64decode(wd("GET", P + "/screenshot")))
try:
    wd("POST", P + "/url", {"url": LINK})
    js("window.__errs=[]; addEventListener('error', e => __errs.push(String(e.message))); addEventListener('unhandledrejection', e => __errs.push(String(e.reason))); document.addEventListener('securitypolicyviolation', e => __errs.push('csp ' + e.violatedDirective)); return 1")
    wait("backup tab", "return !!document.getElementById('preview-cron') && !location.hash.includes('token')")
    click("save"); wait("reconcile ok", "return document.getElementById('reconcile-badge').textContent === 'ok'")
    click("check-bucket"); wait("preflight ok", "return document.getElementById('preflight-badge').textContent === 'ok'")
    click("backup-now"); wait("backup started", "return document.getElementById('backup-result').textContent.includes('Backup started')")
    shot("ff-backup")
    click("tab-restore"); click("mode-full")
    wait("both catalogs with a ready row", "return !!document.getElementById('catalog-tenant') && document.querySelectorAll('#catalogs .badge.ok').length >= 2 && document.getElementById('set-warning').hidden", 60)
    click("ack-one"); click("create")
    wait("ready for promotion checks (event stream)", "return !document.getElementById('stage-two').hidden", 90)
    click("ack-two"); click("apply")
    wait("completed", "return document.getElementById('active-phase').textContent === 'completed'", 90)
    shot("ff-restore")
    errs = js("return window.__errs")
    if errs: raise SystemExit(f"the page reported: {errs}")
    print("firefox smoke: the seed workflow completed with no page error")
finally:
    wd("DELETE", P)
