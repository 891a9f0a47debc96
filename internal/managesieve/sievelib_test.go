package managesieve_test

import (
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/kantorpos/kantorpos/internal/config"
	"github.com/kantorpos/kantorpos/internal/testenv"
)

const sievelibProg = `
import sys
from sievelib.managesieve import Client
host, port = sys.argv[1], int(sys.argv[2])
c = Client(host, port)
assert c.connect("sam@example.test", "sam password", starttls=True, authmech="PLAIN"), "login"
assert "PLAIN" in c.get_sasl_mechanisms()
assert "fileinto" in c.get_sieve_capabilities()
script = 'require ["fileinto"];\r\nif header :contains "subject" "x" { fileinto "X"; }\r\n'
assert c.havespace("rules", len(script))
assert c.checkscript(script)
assert not c.checkscript('fileinto "x";')
assert c.putscript("rules", script)
assert not c.putscript("broken", "frob;")
assert c.setactive("rules")
active, others = c.listscripts()
assert active == "rules", (active, others)
got = c.getscript("rules")  # sievelib joins the lines with LF
assert got.strip() == script.replace("\r\n", "\n").strip(), repr(got)
assert c.putscript("spare", "keep;")
assert c.renamescript("spare", "spare2")
assert not c.deletescript("rules")  # active
assert c.deletescript("spare2")
c.logout()
print("ok")
`

// python3-sievelib, another ManageSieve client, over STARTTLS.
func TestSievelib(t *testing.T) {
	t.Parallel()
	py := testenv.Python(t, "sievelib", "python3-sievelib")
	e := testenv.Start(t, testenv.Options{Configure: func(c *config.Config) { c.ManageSieve.AllowInsecureAuth = false }})
	e.AddUser(t, "sam@example.test", "sam password")
	host, port, _ := net.SplitHostPort(e.Addr["managesieve"])
	out, err := exec.Command(py, "-c", sievelibProg, host, port).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("sievelib: %v\n%s", err, out)
	}
}
