package k8s

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// namespace is where the chart is applied. It enforces the restricted Pod
// Security Standard, as a locked-down cluster's namespaces do, so a pod
// template that such a namespace would refuse fails the test.
const namespace = "rzpgate"

// namespaceManifest creates namespace with Pod Security admission
// enforcing, and warning about, the restricted standard.
const namespaceManifest = `apiVersion: v1
kind: Namespace
metadata:
  name: ` + namespace + `
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/warn: restricted
`

// everyToggle renders every optional resource of the chart.
var everyToggle = []string{
	"replicaCount=3",
	"redis.url=redis://redis:6379",
	"secrets.cacheKeySecret=0123456789abcdef0123456789abcdef",
	"secrets.webhookSecrets={whsec_test}",
	"autoscaling.enabled=true",
	"serviceMonitor.enabled=true",
	"prometheusRule.enabled=true",
	"grafanaDashboard.enabled=true",
	"metricsService.enabled=true",
}

// TestChartOnAPIServer applies the rendered chart to a real kube-apiserver
// with kubectl apply --dry-run=server: the server runs its validation,
// defaulting and admission (Pod Security included) on every object and
// stores nothing. helm lint passes a port out of range, a bad quantity and
// a selector that does not match the pod labels, and strict decoding into
// k8s.io/api types passes the port and the selector; the server refuses all
// three, as the broken cases below prove.
func TestChartOnAPIServer(t *testing.T) {
	helm := tool(t, "helm")
	start := time.Now()
	c := startCluster(t)
	t.Logf("etcd and kube-apiserver %s ready in %v", c.version, time.Since(start).Round(time.Millisecond))
	checkPinnedVersion(t, c.version)

	if out, err := c.kubectl(namespaceManifest, "apply", "-f", "-"); err != nil {
		t.Fatalf("creating namespace %s: %v\n%s", namespace, err, out)
	}
	crds, err := crdFiles(t.TempDir())
	if err != nil {
		t.Fatalf("finding prometheus-operator's CRDs: %v", err)
	}
	// Server-side apply: client-side apply would copy each CRD into an
	// annotation, which is limited to 256 KiB.
	args := []string{"apply", "--server-side"}
	for _, f := range crds {
		args = append(args, "-f", f)
	}
	if out, err := c.kubectl("", args...); err != nil {
		t.Fatalf("applying prometheus-operator's CRDs: %v\n%s", err, out)
	}
	if out, err := c.kubectl("", "wait", "--for=condition=Established", "--timeout=60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com"); err != nil {
		t.Fatalf("waiting for the CRDs: %v\n%s", err, out)
	}

	valid := []struct {
		desc string
		set  []string
	}{
		{desc: "default values"},
		{desc: "every toggle on", set: everyToggle},
	}
	for _, tc := range valid {
		t.Run(tc.desc, func(t *testing.T) {
			manifests := render(t, helm, c.version, tc.set)
			out, err := c.kubectl(manifests, "apply", "--dry-run=server", "-f", "-")
			if err != nil {
				t.Fatalf("the API server rejected the chart: %v\n%s\nrendered:\n%s", err, out, manifests)
			}
			if strings.Contains(out, "Warning:") {
				t.Errorf("the API server warned:\n%s", out)
			}
			// Every rendered object, and only those, was accepted.
			objects := len(regexp.MustCompile(`(?m)^kind: `).FindAllString(manifests, -1))
			if got := strings.Count(out, "(server dry run)"); got != objects {
				t.Errorf("got %d objects accepted, want the %d rendered:\n%s", got, objects, out)
			}
			t.Logf("kubectl apply --dry-run=server:\n%s", out)
		})
	}

	// broken are edits of the default rendering that the server must
	// refuse, or warn about. Each old string must occur exactly once, so
	// that a change to the chart cannot make a case pass by editing nothing.
	broken := []struct {
		desc     string
		old, new string
		want     string // want is in the server's rejection, or warning.
		warning  bool   // warning is set when the server accepts with a warning.
	}{
		{
			desc: "container port out of range",
			old:  "containerPort: 8080", new: "containerPort: 70000",
			want: "must be between 1 and 65535",
		},
		{
			desc: "bad resource quantity",
			old:  "memory: 128Mi", new: "memory: 12x",
			want: "quantities must match the regular expression",
		},
		{
			desc: "selector that does not match the pod labels",
			old:  "matchLabels:\n      app.kubernetes.io/name: rzpgate\n",
			new:  "matchLabels:\n      app.kubernetes.io/name: other\n",
			want: "`selector` does not match template `labels`",
		},
		{
			// Pod Security admission refuses such pods, not the
			// Deployment: it warns when the Deployment is applied.
			desc: "pod that may run as root in a restricted namespace",
			old:  "runAsNonRoot: true", new: "runAsNonRoot: false",
			want: `would violate PodSecurity "restricted:latest": runAsNonRoot != true`, warning: true,
		},
	}
	base := render(t, helm, c.version, nil)
	for _, tc := range broken {
		t.Run(tc.desc, func(t *testing.T) {
			if n := strings.Count(base, tc.old); n != 1 {
				t.Fatalf("the default rendering has %q %d times, want once: update this case", tc.old, n)
			}
			manifests := strings.Replace(base, tc.old, tc.new, 1)
			out, err := c.kubectl(manifests, "apply", "--dry-run=server", "-f", "-")
			switch {
			case tc.warning && err != nil:
				t.Fatalf("the API server rejected %s, want a warning: %v\n%s", tc.desc, err, out)
			case !tc.warning && err == nil:
				t.Fatalf("the API server accepted %s:\n%s", tc.desc, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("got rejection %q, want it to contain %q", out, tc.want)
			}
			t.Logf("refused as expected:\n%s", out)
		})
	}
}

// render runs helm template on the chart with --set values, for the API
// server's version (a go-installed helm otherwise assumes Kubernetes 1.20).
func render(t *testing.T, helm, kubeVersion string, set []string) string {
	t.Helper()
	chart, err := filepath.Abs("../helm/rzpgate")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"template", "rzpgate", chart, "--namespace", namespace, "--kube-version", kubeVersion}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	manifests, stderr, err := run(time.Minute, "", helm, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return manifests
}

// checkPinnedVersion fails the test if the kube-apiserver in deploy/bin is
// not the release go.mod pins (built by hand, or before a version change).
func checkPinnedVersion(t *testing.T, got string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "k8s.io/kubernetes").Output()
	if err != nil {
		t.Fatalf("go list -m k8s.io/kubernetes: %v", err)
	}
	if want := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("deploy/bin/kube-apiserver is %s, go.mod pins %s: remove deploy/bin/kube-apiserver and deploy/bin/kubectl and run make k8s-tools", got, want)
	}
}
