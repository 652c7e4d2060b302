package k8s

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Bounds on the servers' start: kube-apiserver's post-start hooks take
// several seconds on two cores, and more while other tests compile.
const (
	etcdStartTimeout      = 30 * time.Second
	apiserverStartTimeout = 2 * time.Minute
	kubectlTimeout        = 2 * time.Minute
)

// cluster is an etcd and a kube-apiserver on loopback, stopped when the
// test ends, and a kubeconfig for kubectl.
type cluster struct {
	kubectlPath string
	kubeconfig  string
	cacheDir    string // cacheDir is kubectl's discovery cache, private to the test.
	version     string // version is the server's gitVersion, e.g. v1.36.3.
}

// startCluster starts etcd and kube-apiserver and waits until the API
// server's /readyz answers.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	etcdPath := tool(t, "etcd")
	apiserverPath := tool(t, "kube-apiserver")
	c := &cluster{kubectlPath: tool(t, "kubectl")}
	dir := t.TempDir()
	c.cacheDir = filepath.Join(dir, "kubectl-cache")

	etcdURL, err := startEtcd(t, etcdPath, dir)
	if err != nil {
		t.Fatalf("starting etcd: %v", err)
	}
	server, caFile, token, err := startAPIServer(t, apiserverPath, dir, etcdURL)
	if err != nil {
		t.Fatalf("starting kube-apiserver: %v", err)
	}
	if c.version, err = serverVersion(server, caFile, token); err != nil {
		t.Fatalf("reading the server's version: %v", err)
	}
	c.kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(c.kubeconfig, server, caFile, token); err != nil {
		t.Fatalf("writing kubeconfig: %v", err)
	}
	return c
}

// kubectl runs kubectl against the cluster with stdin and returns its
// output, stdout then stderr (errors and warnings).
func (c *cluster) kubectl(stdin string, args ...string) (string, error) {
	args = append([]string{"--kubeconfig", c.kubeconfig, "--cache-dir", c.cacheDir}, args...)
	stdout, stderr, err := run(kubectlTimeout, stdin, c.kubectlPath, args...)
	return stdout + stderr, err
}

// startEtcd starts a one-member etcd on free loopback ports and returns its
// client URL. A port taken between freePort and etcd's bind is retried.
func startEtcd(t *testing.T, etcdPath, dir string) (string, error) {
	var err error
	for attempt := range 3 {
		var client, peer int
		if client, err = freePort(); err != nil {
			return "", err
		}
		if peer, err = freePort(); err != nil {
			return "", err
		}
		clientURL := "http://127.0.0.1:" + strconv.Itoa(client)
		peerURL := "http://127.0.0.1:" + strconv.Itoa(peer)
		var p *proc
		p, err = startProc(dir, etcdPath,
			"--name=test",
			"--data-dir="+filepath.Join(dir, "etcd-"+strconv.Itoa(attempt)),
			"--listen-client-urls="+clientURL,
			"--advertise-client-urls="+clientURL,
			"--listen-peer-urls="+peerURL,
			"--initial-advertise-peer-urls="+peerURL,
			"--initial-cluster=test="+peerURL,
			"--logger=zap",
			"--log-level=warn",
		)
		if err != nil {
			return "", err
		}
		if err = p.waitReady(etcdStartTimeout, func() error { return etcdHealthy(clientURL) }); err == nil {
			t.Cleanup(p.stop)
			return clientURL, nil
		}
		p.stop()
	}
	return "", err
}

// etcdHealthy reports whether etcd's /health says it is.
func etcdHealthy(clientURL string) error {
	resp, err := http.Get(clientURL + "/health")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"health":"true"`) {
		return fmt.Errorf("/health: %s %s", resp.Status, body)
	}
	return nil
}

// startAPIServer starts kube-apiserver on a free loopback port against
// etcdURL and waits for /readyz. It returns the server's URL, the
// self-signed serving certificate it generated (to trust) and a bearer
// token of a system:masters user.
func startAPIServer(t *testing.T, apiserverPath, dir, etcdURL string) (server, caFile, token string, err error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", "", "", err
	}
	token = hex.EncodeToString(b)
	tokenFile := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(token+`,admin,admin,"system:masters"`+"\n"), 0o600); err != nil {
		return "", "", "", err
	}
	saKey := filepath.Join(dir, "sa.key")
	if err := writeRSAKey(saKey); err != nil {
		return "", "", "", fmt.Errorf("writing service account key: %w", err)
	}
	for attempt := range 3 {
		var port int
		if port, err = freePort(); err != nil {
			return "", "", "", err
		}
		certDir := filepath.Join(dir, "certs-"+strconv.Itoa(attempt))
		server = "https://127.0.0.1:" + strconv.Itoa(port)
		caFile = filepath.Join(certDir, "apiserver.crt")
		var p *proc
		p, err = startProc(dir, apiserverPath,
			"--etcd-servers="+etcdURL,
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			"--secure-port="+strconv.Itoa(port),
			// With no key pair given, the server writes a self-signed one
			// for 127.0.0.1 and localhost into --cert-dir.
			"--cert-dir="+certDir,
			"--token-auth-file="+tokenFile,
			"--authorization-mode=RBAC",
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file="+saKey,
			"--service-account-signing-key-file="+saKey,
			"--service-cluster-ip-range=10.96.0.0/16",
			// The lease reconciler would publish 127.0.0.1 as the
			// kubernetes Service's endpoint, which validation refuses.
			"--endpoint-reconciler-type=none",
			"--profiling=false",
		)
		if err != nil {
			return "", "", "", err
		}
		ready := func() error { return get(server+"/readyz", caFile, token, nil) }
		if err = p.waitReady(apiserverStartTimeout, ready); err == nil {
			t.Cleanup(p.stop)
			return server, caFile, token, nil
		}
		p.stop()
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return "", "", "", err
}

// writeRSAKey writes a new RSA key in PEM, for signing and checking
// service account tokens.
func writeRSAKey(path string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	block := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	return os.WriteFile(path, pem.EncodeToMemory(block), 0o600)
}

// get GETs url with the bearer token, trusting only caFile, and decodes a
// JSON body into v unless v is nil. Any status but 200 is an error.
func get(url, caFile, token string, v any) error {
	pemCerts, err := os.ReadFile(caFile)
	if err != nil {
		return err // The server has not written its certificate yet.
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCerts) {
		return fmt.Errorf("no certificate in %s", caFile)
	}
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s\n%s", url, resp.Status, body)
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(body, v)
}

// serverVersion returns the API server's gitVersion from /version.
func serverVersion(server, caFile, token string) (string, error) {
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := get(server+"/version", caFile, token, &v); err != nil {
		return "", err
	}
	return v.GitVersion, nil
}

// writeKubeconfig writes a kubeconfig for the server whose context's
// namespace is the chart's.
func writeKubeconfig(path, server, caFile, token string) error {
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: test
  context:
    cluster: test
    user: admin
    namespace: %s
current-context: test
`, server, caFile, token, namespace)
	return os.WriteFile(path, []byte(cfg), 0o600)
}
