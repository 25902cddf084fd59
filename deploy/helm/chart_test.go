package helm_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"go.yaml.in/yaml/v3"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	clientscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/tokenbroker/tokenbroker/backends/file"
	"github.com/tokenbroker/tokenbroker/backends/vault"
	brokerruntime "github.com/tokenbroker/tokenbroker/broker/runtime"
	"github.com/tokenbroker/tokenbroker/deploy/image"
	"github.com/tokenbroker/tokenbroker/internal/config"
)

const chartDir = "tokenbroker"

// decoder decodes YAML into the registered API types and refuses unknown
// and duplicate fields.
var decoder = func() runtime.Decoder {
	s := runtime.NewScheme()
	if err := clientscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := monitoringv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Yaml: true, Strict: true})
}()

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// render is "helm template" through the library.
func render(c *chart.Chart, vals map[string]any) (string, error) {
	inst := action.NewInstall(&action.Configuration{})
	inst.DryRun, inst.ClientOnly, inst.Replace = true, true, true
	inst.ReleaseName, inst.Namespace = "tb", "tokenbroker"
	inst.KubeVersion = &chartutil.KubeVersion{Version: "v1.33.0", Major: "1", Minor: "33"}
	rel, err := inst.Run(c, vals)
	if err != nil {
		return "", err
	}
	return rel.Manifest, nil
}

func readValues(t *testing.T, path string) map[string]any {
	t.Helper()
	v, err := chartutil.ReadValuesFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return v.AsMap()
}

// rendered is one release's objects, decoded.
type rendered struct {
	objs       []runtime.Object
	deploy     *appsv1.Deployment
	cm         *corev1.ConfigMap
	services   []*corev1.Service
	pdb        *policyv1.PodDisruptionBudget
	netpol     *networkingv1.NetworkPolicy
	hpa        *autoscalingv2.HorizontalPodAutoscaler
	sa         *corev1.ServiceAccount
	ingress    *networkingv1.Ingress
	monitor    *monitoringv1.ServiceMonitor
	configYAML string
	config     *config.Config
}

func decodeAll(t *testing.T, manifest string) *rendered {
	t.Helper()
	r := &rendered{}
	for name, doc := range releaseutil.SplitManifests(manifest) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		obj, _, err := decoder.Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, doc)
		}
		r.objs = append(r.objs, obj)
		switch o := obj.(type) {
		case *appsv1.Deployment:
			r.deploy = o
		case *corev1.ConfigMap:
			r.cm = o
		case *corev1.Service:
			r.services = append(r.services, o)
		case *policyv1.PodDisruptionBudget:
			r.pdb = o
		case *networkingv1.NetworkPolicy:
			r.netpol = o
		case *autoscalingv2.HorizontalPodAutoscaler:
			r.hpa = o
		case *corev1.ServiceAccount:
			r.sa = o
		case *networkingv1.Ingress:
			r.ingress = o
		case *monitoringv1.ServiceMonitor:
			r.monitor = o
		case *corev1.PersistentVolumeClaim:
		default:
			t.Errorf("%s: unexpected kind %T", name, obj)
		}
	}
	if r.deploy == nil || r.cm == nil {
		t.Fatalf("no Deployment or ConfigMap rendered:\n%s", manifest)
	}
	r.configYAML = r.cm.Data["config.yaml"]
	// The broker's own loader, strict: a key the chart writes that the
	// broker does not know fails here.
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(r.configYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	fc, err := config.Load(path, nil)
	if err != nil {
		t.Fatalf("the rendered configuration does not load: %v\n%s", err, r.configYAML)
	}
	// The runtime's validation (issuer, lifetimes, algorithms, proxy
	// formats); it reads the registration token, which is mounted in a pod:
	// give it one here.
	check := *fc
	if check.Registration.InitialAccessTokenFile != "" {
		check.Registration.InitialAccessTokenFile = filepath.Join(t.TempDir(), "registration-token")
		os.WriteFile(check.Registration.InitialAccessTokenFile, []byte("0123456789abcdef0123456789abcdef0123456789abcdef\n"), 0o600)
	}
	if err := brokerruntime.Validate(&check); err != nil {
		t.Fatalf("the rendered configuration is not valid: %v\n%s", err, r.configYAML)
	}
	r.config = fc
	return r
}

// vaultSettings is backend.vault (zero when the section is absent).
func vaultSettings(fc *config.Config) *vault.Settings {
	if s, ok := fc.Backend.Section(vault.Name).(*vault.Settings); ok {
		return s
	}
	return &vault.Settings{}
}

// fileSettings is backend.file.
func fileSettings(fc *config.Config) *file.Settings {
	if s, ok := fc.Backend.Section(file.Name).(*file.Settings); ok {
		return s
	}
	return &file.Settings{}
}

// examples are the values files a user starts from.
func examples(t *testing.T) []string {
	t.Helper()
	ex, err := filepath.Glob(filepath.Join(chartDir, "examples", "*.yaml"))
	if err != nil || len(ex) < 6 {
		t.Fatalf("examples: %v %v", ex, err)
	}
	return ex
}

// Every values example renders, every manifest decodes strictly into its
// API type, and what it renders is what a security team expects.
func TestChartExamples(t *testing.T) {
	c := loadChart(t)
	for _, ex := range examples(t) {
		name := strings.TrimSuffix(filepath.Base(ex), ".yaml")
		t.Run(name, func(t *testing.T) {
			vals := readValues(t, ex)
			manifest, err := render(c, vals)
			if err != nil {
				t.Fatal(err)
			}
			r := decodeAll(t, manifest)
			checkPod(t, r)
			checkNoSecretValues(t, r)
			checkMountedFiles(t, r)
			checkPDB(t, r)
			checkNetworkPolicy(t, r)
			checkServices(t, r)
			checkExample(t, name, r)
		})
	}
}

func container(t *testing.T, r *rendered) *corev1.Container {
	t.Helper()
	cs := r.deploy.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("%d containers", len(cs))
	}
	return &cs[0]
}

// Probes on the admin port, the strict security context, the image's ports.
func checkPod(t *testing.T, r *rendered) {
	t.Helper()
	pod := r.deploy.Spec.Template.Spec
	ct := container(t, r)
	ports := map[string]int32{}
	for _, p := range ct.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for probe, want := range map[*corev1.Probe]string{ct.LivenessProbe: "/healthz", ct.ReadinessProbe: "/readyz", ct.StartupProbe: "/healthz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || probe.HTTPGet.Port.String() != "admin" {
			t.Errorf("probe %+v, want GET %s on the admin port", probe, want)
		}
	}
	// The admin port is the configuration's admin.listen, and every port
	// is one the image exposes.
	if !strings.HasSuffix(r.config.Admin.Listen, fmt.Sprintf(":%d", ports["admin"])) || !strings.HasSuffix(r.config.Listen, fmt.Sprintf(":%d", ports["https"])) {
		t.Errorf("ports %v, config listen %q admin.listen %q", ports, r.config.Listen, r.config.Admin.Listen)
	}
	if r.config.MTLS.Listen != "" && !strings.HasSuffix(r.config.MTLS.Listen, fmt.Sprintf(":%d", ports["mtls"])) {
		t.Errorf("mtls.listen %q, container port %d", r.config.MTLS.Listen, ports["mtls"])
	}
	exposed := exposedPorts(t)
	for name, p := range ports {
		if !exposed[fmt.Sprintf("%d/tcp", p)] {
			t.Errorf("port %s %d is not EXPOSEd by deploy/Containerfile", name, p)
		}
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v", psc)
	}
	sc := ct.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 ||
		(sc.Privileged != nil && *sc.Privileged) || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container securityContext %+v", sc)
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Error("host namespaces shared")
	}
	if ct.Resources.Requests.Cpu().IsZero() || ct.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v", ct.Resources)
	}
	// The configuration is the ConfigMap, where the image's variable says.
	var cfgPath string
	for _, e := range ct.Env {
		if e.Name == "TOKENBROKER_CONFIG" {
			cfgPath = e.Value
		}
		if e.Value != "" && strings.HasPrefix(e.Name, config.EnvPrefix) && e.Name != "TOKENBROKER_CONFIG" {
			t.Errorf("env %s: configuration belongs in the ConfigMap", e.Name)
		}
	}
	if dir := mountOf(pod, ct, cfgPath); dir == nil || dir.ConfigMap == nil || dir.ConfigMap.Name != r.cm.Name || filepath.Base(cfgPath) != "config.yaml" {
		t.Errorf("TOKENBROKER_CONFIG %q is not the ConfigMap's config.yaml", cfgPath)
	}
}

// mountOf is the volume mounted where path is.
func mountOf(pod corev1.PodSpec, ct *corev1.Container, path string) *corev1.Volume {
	best := ""
	var vol string
	for _, m := range ct.VolumeMounts {
		if strings.HasPrefix(path, m.MountPath+"/") && len(m.MountPath) > len(best) {
			best, vol = m.MountPath, m.Name
		}
	}
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == vol {
			return &pod.Volumes[i]
		}
	}
	return nil
}

var exposed map[string]bool

func exposedPorts(t *testing.T) map[string]bool {
	t.Helper()
	if exposed == nil {
		f, err := os.Open("../Containerfile")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cf, err := image.Parse(f, nil)
		if err != nil {
			t.Fatal(err)
		}
		exposed = map[string]bool{}
		for p := range cf.Final.Config.ExposedPorts {
			exposed[p] = true
		}
	}
	return exposed
}

// secretKey is a configuration key that would hold a secret's value
// rather than name its file.
var secretKey = regexp.MustCompile(`(?i)(password|secret|secret_id|token|private_key|chain_key|credentials?)$`)

// No secret in a ConfigMap, and no Secret rendered from values at all:
// secrets come from an existing Secret, the Vault Agent or the CSI driver.
func checkNoSecretValues(t *testing.T, r *rendered) {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(r.configYAML), &doc); err != nil {
		t.Fatal(err)
	}
	walk(doc, "", func(key string, v any) {
		last := key[strings.LastIndex(key, ".")+1:]
		if secretKey.MatchString(last) {
			t.Errorf("ConfigMap key %s holds a value, not a file", key)
		}
	})
	for k, v := range r.cm.Data {
		if strings.Contains(v, "-----BEGIN") || strings.Contains(strings.ToLower(v), "private") {
			t.Errorf("ConfigMap %s holds key material", k)
		}
	}
	for _, o := range r.objs {
		if _, ok := o.(*corev1.Secret); ok {
			t.Error("the chart renders a Secret: secrets must never come from values")
		}
	}
	for _, e := range container(t, r).Env {
		if secretKey.MatchString(e.Name) && e.Value != "" {
			t.Errorf("env %s holds a value", e.Name)
		}
	}
}

func walk(v any, key string, f func(string, any)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			walk(x, strings.TrimPrefix(key+"."+k, "."), f)
		}
	case []any:
		for _, x := range v {
			walk(x, key, f)
		}
	default:
		f(key, v)
	}
}

// Every file the configuration names is on a volume the pod mounts (or
// where the Vault Agent injector writes), and the data directory is on
// the PVC.
func checkMountedFiles(t *testing.T, r *rendered) {
	t.Helper()
	pod := r.deploy.Spec.Template.Spec
	ct := container(t, r)
	fc := r.config
	vs, fs := vaultSettings(fc), fileSettings(fc)
	files := map[string]string{
		"tls.cert_file": fc.TLS.CertFile, "tls.key_file": fc.TLS.KeyFile,
		"backend.vault.auth.secret_id_file": vs.Auth.SecretIDFile, "backend.vault.auth.token_file": vs.Auth.TokenFile,
		"backend.vault.ca_cert": vs.CACert, "shared_state.redis.password_file": fc.SharedState.Redis.PasswordFile,
		"audit.chain_key_file": fc.Audit.ChainKeyFile, "registration.initial_access_token_file": fc.Registration.InitialAccessTokenFile,
		"audit.file": fc.Audit.File, "backend.file.dir": fs.Dir + "/x",
	}
	for i, f := range fc.TLS.ClientCAFiles {
		files[fmt.Sprintf("tls.client_ca_files[%d]", i)] = f
	}
	agent := r.deploy.Spec.Template.Annotations["vault.hashicorp.com/agent-inject"] == "true"
	for key, path := range files {
		if path == "" || path == "/x" {
			continue
		}
		if agent {
			if name, ok := strings.CutPrefix(path, "/vault/secrets/"); ok {
				if _, ok := r.deploy.Spec.Template.Annotations["vault.hashicorp.com/agent-inject-secret-"+name]; !ok {
					t.Errorf("%s: %s is not injected by the Vault Agent", key, path)
				}
				continue
			}
		}
		v := mountOf(pod, ct, path)
		if v == nil {
			t.Errorf("%s: %s is on no mounted volume", key, path)
			continue
		}
		if v.Secret != nil && v.Secret.Items != nil && !slices.ContainsFunc(v.Secret.Items, func(k corev1.KeyToPath) bool { return k.Path == filepath.Base(path) }) {
			t.Errorf("%s: %s is not among the Secret's items", key, path)
		}
		if key == "backend.file.dir" && v.PersistentVolumeClaim == nil {
			t.Errorf("the file backend's directory is not on the PVC: %+v", v)
		}
		if key == "audit.file" && (v.ConfigMap != nil || v.Secret != nil) {
			t.Errorf("audit.file %s is on a read-only volume", path)
		}
	}
}

func podSelected(t *testing.T, r *rendered, sel map[string]string) {
	t.Helper()
	if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(labels.Set(r.deploy.Spec.Template.Labels)) {
		t.Errorf("selector %v does not select the pods %v", sel, r.deploy.Spec.Template.Labels)
	}
}

func checkPDB(t *testing.T, r *rendered) {
	t.Helper()
	if r.pdb == nil {
		t.Fatal("no PodDisruptionBudget")
	}
	podSelected(t, r, r.pdb.Spec.Selector.MatchLabels)
	// Never minAvailable = replicas: that would block every drain.
	if r.pdb.Spec.MaxUnavailable == nil || r.pdb.Spec.MaxUnavailable.IntValue() < 1 || r.pdb.Spec.MinAvailable != nil {
		t.Errorf("PDB %+v, want maxUnavailable ≥ 1", r.pdb.Spec)
	}
}

// The NetworkPolicy opens the token port(s) and the admin port and nothing
// else; the admin port never to everyone.
func checkNetworkPolicy(t *testing.T, r *rendered) {
	t.Helper()
	np := r.netpol
	if np == nil {
		t.Fatal("no NetworkPolicy")
	}
	podSelected(t, r, np.Spec.PodSelector.MatchLabels)
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
		t.Errorf("policyTypes %v", np.Spec.PolicyTypes)
	}
	want := map[string]bool{"https": true, "admin": true}
	if r.config.MTLS.Listen != "" {
		want["mtls"] = true
	}
	got := map[string]bool{}
	for _, rule := range np.Spec.Ingress {
		if len(rule.Ports) == 0 {
			t.Errorf("a rule without ports opens every port: %+v", rule)
		}
		for _, p := range rule.Ports {
			name := p.Port.String()
			got[name] = true
			if name == "admin" && len(rule.From) == 0 {
				t.Error("the admin port is open to everyone")
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("NetworkPolicy opens %v, want %v", got, want)
	}
}

// The token Service never carries the admin port; the admin Service is
// cluster-internal.
func checkServices(t *testing.T, r *rendered) {
	t.Helper()
	if len(r.services) != 2 {
		t.Fatalf("%d Services", len(r.services))
	}
	for _, s := range r.services {
		podSelected(t, r, s.Spec.Selector)
		admin := s.Labels["app.kubernetes.io/component"] == "admin"
		for _, p := range s.Spec.Ports {
			if (p.TargetPort.String() == "admin") != admin {
				t.Errorf("Service %s port %s → %s", s.Name, p.Name, p.TargetPort.String())
			}
		}
		if admin && s.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("admin Service is %s", s.Spec.Type)
		}
	}
}

// What each example is for.
func checkExample(t *testing.T, name string, r *rendered) {
	t.Helper()
	fc := r.config
	replicas := int32(1)
	if r.deploy.Spec.Replicas != nil {
		replicas = *r.deploy.Spec.Replicas
	}
	if replicas > 1 || r.hpa != nil {
		if fc.SharedState.Type != "redis" || fc.Backend.Type == "file" {
			t.Errorf("%d replicas (hpa %v) on %s with shared state %q", replicas, r.hpa != nil, fc.Backend.Type, fc.SharedState.Type)
		}
	}
	switch name {
	case "file":
		if fc.Backend.Type != "file" || replicas != 1 || r.deploy.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("file: %s, %d replicas, strategy %s", fc.Backend.Type, replicas, r.deploy.Spec.Strategy.Type)
		}
	case "vault":
		a := r.deploy.Spec.Template.Annotations
		if fc.Backend.Type != "vault" || a["vault.hashicorp.com/agent-inject"] != "true" || vaultSettings(fc).Auth.SecretIDFile != "/vault/secrets/vault-secret-id" {
			t.Errorf("vault: %s %v %q", fc.Backend.Type, a, vaultSettings(fc).Auth.SecretIDFile)
		}
		// The injector renders the file from the KV secret's value field.
		if got, want := a["vault.hashicorp.com/agent-inject-template-vault-secret-id"], `{{- with secret "secret/data/tokenbroker-deploy/approle-secret-id" -}}{{ .Data.data.value }}{{- end -}}`; got != want {
			t.Errorf("vault: template %q, want %q", got, want)
		}
		if a["vault.hashicorp.com/agent-run-as-same-user"] != "true" || a["vault.hashicorp.com/agent-inject-perms-tls.key"] != "0400" {
			t.Errorf("vault: injected files not the broker's alone: %v", a)
		}
		if r.deploy.Spec.Template.Spec.AutomountServiceAccountToken == nil || !*r.deploy.Spec.Template.Spec.AutomountServiceAccountToken {
			t.Error("vault: the injector's Kubernetes auth needs the service account token")
		}
	case "aws":
		if fc.Backend.Type != "awssm" || r.sa == nil || !strings.HasPrefix(r.sa.Annotations["eks.amazonaws.com/role-arn"], "arn:aws:iam::") {
			t.Errorf("aws: %s, service account %+v", fc.Backend.Type, r.sa)
		}
		if v := mountOf(r.deploy.Spec.Template.Spec, container(t, r), fc.TLS.CertFile); v == nil || v.CSI == nil || v.CSI.Driver != "secrets-store.csi.k8s.io" {
			t.Errorf("aws: the certificate is not from the Secrets Store CSI driver: %+v", v)
		}
	case "redis-replicas":
		if r.hpa == nil || r.deploy.Spec.Replicas != nil || r.hpa.Spec.MinReplicas == nil || *r.hpa.Spec.MinReplicas < 2 || r.hpa.Spec.ScaleTargetRef.Name != r.deploy.Name {
			t.Errorf("redis-replicas: hpa %+v, replicas %v", r.hpa, r.deploy.Spec.Replicas)
		}
	case "mtls-passthrough":
		svc := r.services[0]
		if svc.Labels["app.kubernetes.io/component"] == "admin" {
			svc = r.services[1]
		}
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || fc.MTLS.Listen == "" || fc.Proxy.Format != "" || len(fc.Proxy.TrustedProxies) > 0 {
			t.Errorf("mtls-passthrough: service %s, mtls.listen %q, proxy %+v", svc.Spec.Type, fc.MTLS.Listen, fc.Proxy)
		}
	case "ingress":
		if r.ingress == nil || fc.Proxy.Format == "" || len(fc.Proxy.TrustedProxies) == 0 || r.monitor == nil {
			t.Fatalf("ingress: %v, proxy %+v, ServiceMonitor %v", r.ingress, fc.Proxy, r.monitor)
		}
		if r.ingress.Annotations["nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream"] != "true" || r.ingress.Annotations["nginx.ingress.kubernetes.io/backend-protocol"] != "HTTPS" {
			t.Errorf("ingress annotations %v", r.ingress.Annotations)
		}
		if len(r.monitor.Spec.Endpoints) != 1 || r.monitor.Spec.Endpoints[0].Port != "admin" || r.monitor.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoints %+v", r.monitor.Spec.Endpoints)
		}
	default:
		t.Errorf("example %s has no checks of its own", name)
	}
}

// The chart refuses what would be unsafe or broken, naming the value.
func TestChartRefuses(t *testing.T) {
	c := loadChart(t)
	base := func(t *testing.T) map[string]any {
		return readValues(t, filepath.Join(chartDir, "examples", "file.yaml"))
	}
	for _, tc := range []struct {
		name   string
		change func(v map[string]any)
		want   string
	}{
		{"two replicas on the file backend", func(v map[string]any) {
			v["replicaCount"] = 2
			v["config"].(map[string]any)["shared_state"] = map[string]any{"type": "redis", "redis": map[string]any{"addrs": []any{"r:6379"}}}
		}, "file backend is one replica"},
		{"replicas without redis", func(v map[string]any) {
			v["replicaCount"] = 3
			v["config"].(map[string]any)["backend"] = map[string]any{"type": "vault", "vault": map[string]any{"address": "https://v:8200"}}
		}, "shared_state.type: redis"},
		{"autoscaling without redis", func(v map[string]any) {
			v["autoscaling"] = map[string]any{"enabled": true}
			v["config"].(map[string]any)["backend"] = map[string]any{"type": "awssm"}
		}, "shared_state.type: redis"},
		{"a chart-managed key", func(v map[string]any) { v["config"].(map[string]any)["listen"] = "0.0.0.0:1" }, "config.listen is set by the chart"},
		{"a chart-managed file", func(v map[string]any) {
			v["config"].(map[string]any)["shared_state"] = map[string]any{"redis": map[string]any{"password_file": "/x"}}
		}, "config.shared_state.redis.password_file is set by the chart"},
		{"no server certificate", func(v map[string]any) { v["tls"] = map[string]any{"existingSecret": ""} }, "tls.existingSecret"},
		{"files without their Secret", func(v map[string]any) {
			v["secrets"].(map[string]any)["kubernetes"] = map[string]any{"existingSecret": ""}
		}, "secrets.kubernetes.existingSecret"},
		{"vault agent without a path", func(v map[string]any) {
			v["secrets"].(map[string]any)["source"] = "vault-agent"
			v["secrets"].(map[string]any)["vaultAgent"] = map[string]any{"role": "r", "paths": map[string]any{"tls.crt": "a", "tls.key": "b"}}
		}, "secrets.vaultAgent.paths.audit-chain-key"},
		{"unknown secrets source", func(v map[string]any) { v["secrets"].(map[string]any)["source"] = "values" }, "/secrets/source"},
		{"ingress without trusted proxies", func(v map[string]any) {
			v["ingress"] = map[string]any{"enabled": true, "host": "h", "tlsSecret": "s"}
		}, "trusted_proxies"},
		{"admin port open to all", func(v map[string]any) {
			v["networkPolicy"] = map[string]any{"enabled": true, "adminFrom": []any{}}
		}, "networkPolicy.adminFrom"},
		// values.schema.json: a secret cannot ride in as a value.
		{"a secret as a top-level value", func(v map[string]any) { v["redisPassword"] = "hunter2" }, "additional properties 'redisPassword' not allowed"},
		{"a secret as a file name", func(v map[string]any) {
			v["secrets"].(map[string]any)["files"].(map[string]any)["redisPassword"] = "correct horse battery staple"
		}, "/secrets/files/redisPassword"},
		{"a secret beside the files", func(v map[string]any) {
			v["secrets"].(map[string]any)["redisPasswordValue"] = "hunter2"
		}, "additional properties 'redisPasswordValue' not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := base(t)
			tc.change(v)
			_, err := render(c, v)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("rendered (%v), want a refusal naming %q", err, tc.want)
			}
		})
	}
	// The plain defaults need a server certificate first.
	if _, err := render(c, nil); err == nil || !strings.Contains(err.Error(), "tls.existingSecret") {
		t.Errorf("defaults: %v", err)
	}
}
