package helm

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// kubeVersion is the Kubernetes version charts are rendered for: helm
// built with go install assumes 1.20 otherwise.
const kubeVersion = "1.36.0"

// keySecret is a cache key secret long enough for shared mode.
const keySecret = "0123456789abcdef0123456789abcdef-chart-test"

// valueSets are the renderings every check runs on.
var valueSets = []struct {
	desc string
	args []string
}{
	{"default values", nil},
	{"every toggle on", []string{
		"--set", "replicaCount=3",
		"--set", "redis.url=redis://redis-master.redis:6379",
		"--set", "secrets.cacheKeySecret=" + keySecret,
		"--set", "secrets.webhookSecrets={whsec_one,whsec_two}",
		"--set", "secrets.redisPassword=pw",
		"--set", "webhooks.forward={http://app.payments:8080/hooks}",
		"--set", "limits.enabled=true",
		"--set", "limits.budget.enabled=true",
		"--set", "limits.tenants.rzp_live_checkout.rate=50",
		"--set", "limits.tenants.rzp_live_checkout.burst=100",
		"--set", "autoscaling.enabled=true",
		"--set", "serviceMonitor.enabled=true",
		"--set", "prometheusRule.enabled=true",
		"--set", "grafanaDashboard.enabled=true",
		"--set", "metricsService.enabled=true",
		"--set", "redis.nearCache=true",
	}},
}

// helmBin returns the helm binary: deploy/bin/helm (make k8s-tools builds
// it), else on PATH. Without one the test skips loudly, or fails when CI is
// "true".
func helmBin(t *testing.T) string {
	t.Helper()
	if p, err := filepath.Abs("../bin/helm"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but helm is missing: make deploy/bin/helm")
	}
	t.Skip("HELM TESTS SKIPPED: no helm; build it with `make deploy/bin/helm`")
	return ""
}

func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	if err != nil {
		return out.String() + stderr.String(), err
	}
	return out.String(), nil
}

// render returns the chart's manifests for a value set.
func render(t *testing.T, helm string, args []string) []string {
	t.Helper()
	out, err := run(t, helm, append([]string{"template", "rzpgate", "rzpgate", "--namespace", "payments", "--kube-version", kubeVersion}, args...)...)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	var docs []string
	for doc := range strings.SplitSeq(out, "\n---\n") {
		if strings.Contains(doc, "kind:") {
			docs = append(docs, doc)
		}
	}
	return docs
}

func TestLint(t *testing.T) {
	helm := helmBin(t)
	for _, vs := range valueSets {
		t.Run(vs.desc, func(t *testing.T) {
			if out, err := run(t, helm, append([]string{"lint", "--strict", "rzpgate", "--kube-version", kubeVersion}, vs.args...)...); err != nil {
				t.Errorf("helm lint --strict: %v\n%s", err, out)
			}
		})
	}
}

// TestManifestsDecodeStrictly decodes every rendered manifest into the
// Kubernetes API's Go type for its kind, refusing unknown or misspelt
// fields, and checks what lint and decoding cannot see.
func TestManifestsDecodeStrictly(t *testing.T) {
	helm := helmBin(t)
	for _, vs := range valueSets {
		t.Run(vs.desc, func(t *testing.T) {
			kinds := map[string]int{}
			var dep *appsv1.Deployment
			var services []*corev1.Service
			for _, doc := range render(t, helm, vs.args) {
				var meta struct{ Kind string }
				if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
					t.Fatalf("manifest is not YAML: %v\n%s", err, doc)
				}
				kinds[meta.Kind]++
				var obj any
				switch meta.Kind {
				case "Deployment":
					dep = &appsv1.Deployment{}
					obj = dep
				case "Service":
					s := &corev1.Service{}
					services = append(services, s)
					obj = s
				case "ConfigMap":
					obj = &corev1.ConfigMap{}
				case "Secret":
					obj = &corev1.Secret{}
				case "ServiceAccount":
					obj = &corev1.ServiceAccount{}
				case "PodDisruptionBudget":
					obj = &policyv1.PodDisruptionBudget{}
				case "HorizontalPodAutoscaler":
					obj = &autoscalingv2.HorizontalPodAutoscaler{}
				case "ServiceMonitor":
					obj = &monitoringv1.ServiceMonitor{}
				case "PrometheusRule":
					obj = &monitoringv1.PrometheusRule{}
				default:
					t.Fatalf("unexpected kind %q", meta.Kind)
				}
				if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
					t.Errorf("%s does not decode strictly: %v", meta.Kind, err)
				}
			}
			if dep == nil {
				t.Fatal("no Deployment rendered")
			}
			checkDeployment(t, dep, services)
			if vs.args != nil {
				for _, k := range []string{"HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceMonitor", "PrometheusRule"} {
					if kinds[k] != 1 {
						t.Errorf("%d %s with every toggle on; want 1", kinds[k], k)
					}
				}
				if kinds["ConfigMap"] != 2 || kinds["Service"] != 2 {
					t.Errorf("ConfigMaps %d, Services %d; want 2 each (config and dashboard; gateway and metrics)", kinds["ConfigMap"], kinds["Service"])
				}
			}
		})
	}
}

// checkDeployment checks what the API server would accept but would not
// run as intended.
func checkDeployment(t *testing.T, dep *appsv1.Deployment, services []*corev1.Service) {
	t.Helper()
	pod := dep.Spec.Template
	for k, v := range dep.Spec.Selector.MatchLabels {
		if pod.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod's labels %v", k, v, pod.Labels)
		}
	}
	for _, s := range services {
		for k, v := range s.Spec.Selector {
			if pod.Labels[k] != v {
				t.Errorf("Service %s selects %s=%s, which the pod lacks", s.Name, k, v)
			}
		}
	}
	c := pod.Spec.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["http"] != 8080 || ports["admin"] != 9090 {
		t.Errorf("container ports %v; want http 8080 and admin 9090, as the rendered config listens", ports)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "admin" {
		t.Errorf("liveness probe %+v; want /healthz on admin", p)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.String() != "admin" {
		t.Errorf("readiness probe %+v; want /readyz on admin", p)
	}
	sc, psc := c.SecurityContext, pod.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context %+v; want runAsNonRoot and RuntimeDefault seccomp", psc)
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security context %+v; want a read-only root, no privilege escalation, all capabilities dropped", sc)
	}
	// The grace period covers the preStop sleep, shutdown_delay and
	// shutdown_timeout of the rendered config.
	sleep := c.Lifecycle.PreStop.Sleep.Seconds
	if got, want := *pod.Spec.TerminationGracePeriodSeconds, sleep+5+30+5; got != want {
		t.Errorf("terminationGracePeriodSeconds %d; want %d (preStop %d + shutdown_delay 5 + shutdown_timeout 30 + 5)", got, want, sleep)
	}
}

// TestRenderedConfigIsValid feeds the ConfigMap the chart renders, with the
// Secret's values in the environment as the pod gets them, to the gateway's
// own -check-config, so that the chart and the binary never disagree.
func TestRenderedConfigIsValid(t *testing.T) {
	helm := helmBin(t)
	bin := filepath.Join(t.TempDir(), "rzpgate")
	if out, err := run(t, "go", "build", "-C", "../..", "-o", bin, "./cmd/proxy"); err != nil {
		t.Fatalf("building the gateway: %v\n%s", err, out)
	}
	envOf := map[string]string{"cache-key-secret": "RZPGATE_CACHE_KEY_SECRET", "webhook-secrets": "RZPGATE_WEBHOOK_SECRETS",
		"redis-password": "RZPGATE_REDIS_PASSWORD", "webhook-forward": "RZPGATE_WEBHOOK_FORWARD"}
	for _, vs := range valueSets {
		t.Run(vs.desc, func(t *testing.T) {
			var config string
			env := os.Environ()
			for _, doc := range render(t, helm, vs.args) {
				var obj struct {
					Kind       string
					Metadata   struct{ Name string }
					Data       map[string]string
					StringData map[string]string
				}
				if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
					t.Fatal(err)
				}
				switch obj.Kind {
				case "ConfigMap":
					if c, ok := obj.Data["proxy.yaml"]; ok {
						config = c
					}
				case "Secret":
					for k, v := range obj.Data {
						raw, err := base64.StdEncoding.DecodeString(v)
						if err != nil {
							t.Fatalf("Secret %s: %v", k, err)
						}
						if len(raw) > 0 { // an empty key is an unset variable (optional secretKeyRef)
							env = append(env, envOf[k]+"="+string(raw))
						}
					}
				}
			}
			if config == "" {
				t.Fatal("no ConfigMap with proxy.yaml")
			}
			file := filepath.Join(t.TempDir(), "proxy.yaml")
			os.WriteFile(file, []byte(config), 0o600)
			cmd := exec.Command(bin, "-check-config", "-config", file)
			cmd.Env = env
			if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "config ok" {
				t.Errorf("-check-config on the rendered config: %v\n%s\n%s", err, out, config)
			}
		})
	}
}

// TestChartRefusesMistakes: values the chart must refuse.
func TestChartRefusesMistakes(t *testing.T) {
	helm := helmBin(t)
	tests := []struct {
		desc string
		args []string
		want string
	}{
		{"replicas without redis", []string{"--set", "replicaCount=3"}, "redis.url"},
		{"autoscaling without redis", []string{"--set", "autoscaling.enabled=true"}, "redis.url"},
		{"short key secret with redis", []string{"--set", "redis.url=redis://r:6379", "--set", "secrets.cacheKeySecret=short"}, "cacheKeySecret"},
		{"misspelt value", []string{"--set", "replicaCuont=2"}, "replicaCuont"},
		{"wrong type", []string{"--set", "service.port=http"}, "/service/port"},
		{"bad log level", []string{"--set", "log.level=loud"}, "log"},
		{"webhook path outside the gateway's", []string{"--set", "webhooks.path=/v1/hooks"}, "webhooks"},
		{"webhook secret with a comma", []string{"--set-json", `secrets.webhookSecrets=["s3cr,et"]`}, "comma"},
		{"webhook secret with a space", []string{"--set-json", `secrets.webhookSecrets=["s3cret "]`}, "white space"},
		{"service monitor without the metrics service", []string{"--set", "serviceMonitor.enabled=true", "--set", "metricsService.enabled=false"}, "metricsService"},
		{"integer cache size", []string{"-f", writeValues(t, "cache:\n  maxBytes: 268435456\n")}, "maxBytes"},
		{"no preStop sleep", []string{"--set", "shutdown.preStopSleepSeconds=0"}, "preStopSleepSeconds"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			out, err := run(t, helm, append([]string{"template", "rzpgate", "rzpgate", "--kube-version", kubeVersion}, tt.args...)...)
			if err == nil || !strings.Contains(out, tt.want) {
				t.Errorf("helm template %v: %v; want an error naming %s\n%s", tt.args, err, tt.want, out)
			}
		})
	}
	// Several in-memory replicas are allowed deliberately, and NOTES warns.
	if notes := renderNotes(t, helm, "--set", "replicaCount=3", "--set", "cache.allowInMemoryWithReplicas=true"); !strings.Contains(notes, "WARNING: 3 replicas run with in-memory caches") {
		t.Errorf("NOTES for 3 in-memory replicas lacks the warning:\n%s", notes)
	}
	if notes := renderNotes(t, helm, "--set", "autoscaling.enabled=true", "--set", "cache.allowInMemoryWithReplicas=true"); !strings.Contains(notes, "WARNING: up to 10 replicas run with in-memory caches") {
		t.Errorf("NOTES for autoscaled in-memory replicas lacks the warning:\n%s", notes)
	}
	if notes := renderNotes(t, helm); strings.Contains(notes, "WARNING") || !strings.Contains(notes, "client.Request.BaseURL") || !strings.Contains(notes, "base_url=") || !strings.Contains(notes, "rq.defaults.baseURL") {
		t.Errorf("NOTES for the defaults: want the Go, Python and Node SDK instructions and no warning:\n%s", notes)
	}
}

// renderNotes renders NOTES.txt, which helm template leaves out, through a
// copy of the chart with one more template carrying the notes' named
// template.
func renderNotes(t *testing.T, helm string, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rzpgate")
	if out, err := exec.Command("cp", "-rL", "rzpgate", dir).CombinedOutput(); err != nil {
		t.Fatalf("copying the chart: %v\n%s", err, out)
	}
	tpl := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: {{ include \"rzpgate.notes\" . | quote }}\n"
	os.WriteFile(filepath.Join(dir, "templates", "zz-notes.yaml"), []byte(tpl), 0o644)
	out, err := run(t, helm, append([]string{"template", "rzpgate", dir, "--kube-version", kubeVersion, "--show-only", "templates/zz-notes.yaml"}, args...)...)
	if err != nil {
		t.Fatalf("rendering NOTES: %v\n%s", err, out)
	}
	var cm struct{ Data map[string]string }
	if err := yaml.Unmarshal([]byte(out), &cm); err != nil {
		t.Fatal(err)
	}
	return cm.Data["notes"]
}

// TestScalingRendersConsistently: under autoscaling every replica enforces
// its share of the most replicas that may run, and a budget of one pod is
// never rendered (it would block every node drain).
func TestScalingRendersConsistently(t *testing.T) {
	helm := helmBin(t)
	shared := []string{"--set", "redis.url=redis://r:6379", "--set", "secrets.cacheKeySecret=" + keySecret}
	docs := strings.Join(render(t, helm, append(shared, "--set", "autoscaling.enabled=true", "--set", "autoscaling.maxReplicas=7")), "\n---\n")
	if !strings.Contains(docs, "expected_replicas: 7") {
		t.Errorf("autoscaling to 7 replicas: the config's expected_replicas is not 7")
	}
	for _, args := range [][]string{nil, {"--set", "autoscaling.enabled=true", "--set", "autoscaling.minReplicas=1"}} {
		if docs := strings.Join(render(t, helm, append(shared, args...)), "\n---\n"); strings.Contains(docs, "kind: PodDisruptionBudget") {
			t.Errorf("%v: a PodDisruptionBudget over what may be a single pod", args)
		}
	}
}

// writeValues writes a values file and returns its path.
func writeValues(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReadmeListsEveryValue keeps the README's values table in step with
// values.yaml: every value's path appears in it.
func TestReadmeListsEveryValue(t *testing.T) {
	data, err := os.ReadFile("rzpgate/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	table := string(readme)
	if i := strings.Index(table, "## Deploying on Kubernetes"); i >= 0 {
		table = table[i:]
	}
	for _, p := range leaves("", values) {
		// A row names a value whole, or as a sibling after its parent
		// (`limits.budget.enabled`, `.rate`).
		last := p[strings.LastIndex(p, ".")+1:]
		if !strings.Contains(table, "`"+p+"`") && !regexp.MustCompile("`\\."+regexp.QuoteMeta(last)+"`").MatchString(table) {
			t.Errorf("README's values table lacks %s", p)
		}
	}
}

// leaves lists the dotted paths of a values map's leaves; maps meant to be
// filled by users (labels, annotations, tenants, resources...) are leaves.
func leaves(prefix string, m map[string]any) []string {
	opaque := []string{"resources", "podAnnotations", "podLabels", "nodeSelector", "affinity", "tenants", "labels"}
	var out []string
	for k, v := range m {
		p := prefix + k
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 && !slices.Contains(opaque, k) {
			out = append(out, leaves(p+".", sub)...)
			continue
		}
		out = append(out, p)
	}
	return out
}
