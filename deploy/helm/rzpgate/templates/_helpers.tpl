{{/* Chart name, truncated to 63 characters (DNS label). */}}
{{- define "rzpgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release and chart, unless overridden. */}}
{{- define "rzpgate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "rzpgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "rzpgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "rzpgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rzpgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "rzpgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "rzpgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "rzpgate.secretName" -}}
{{- default (include "rzpgate.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* Shared mode: several replicas need Redis, unless deliberately not. */}}
{{- define "rzpgate.validate" -}}
{{- $replicas := .Values.replicaCount | int }}
{{- if .Values.autoscaling.enabled }}{{ $replicas = .Values.autoscaling.maxReplicas | int }}{{ end }}
{{- if and (gt $replicas 1) (not .Values.redis.url) (not .Values.cache.allowInMemoryWithReplicas) }}
{{- fail "more than one replica needs redis.url (shared mode), or cache.allowInMemoryWithReplicas: true to run each replica with its own cache" }}
{{- end }}
{{- if and .Values.redis.url (not .Values.secrets.existingSecret) (lt (len .Values.secrets.cacheKeySecret) 32) }}
{{- fail "secrets.cacheKeySecret must be at least 32 bytes with redis.url (or use secrets.existingSecret)" }}
{{- end }}
{{- range .Values.secrets.webhookSecrets }}
{{- if or (contains "," .) (ne . (trim .)) }}
{{- fail "secrets.webhookSecrets: a secret must not contain a comma nor begin or end with white space (they are passed comma-separated)" }}
{{- end }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not .Values.metricsService.enabled) }}
{{- fail "serviceMonitor.enabled needs metricsService.enabled: the ServiceMonitor selects the metrics Service" }}
{{- end }}
{{- end }}

{{/* The install notes (NOTES.txt), as a template so tests can render them. */}}
{{- define "rzpgate.notes" -}}
rzpgate is running as {{ include "rzpgate.fullname" . }} in {{ .Release.Namespace }}.

Point each app's Razorpay SDK at it instead of https://api.razorpay.com:

  base URL: http://{{ include "rzpgate.fullname" . }}.{{ .Release.Namespace }}.svc:{{ .Values.service.port }}

  Go (razorpay-go):  client := razorpay.NewClient(key, secret)
                     client.Request.BaseURL = "http://{{ include "rzpgate.fullname" . }}.{{ .Release.Namespace }}.svc:{{ .Values.service.port }}"
  Python:            razorpay.Client(auth=(key, secret), base_url="http://{{ include "rzpgate.fullname" . }}.{{ .Release.Namespace }}.svc:{{ .Values.service.port }}")
  Node (razorpay):   after new Razorpay(...), replace https://api.razorpay.com in
                     rzp.api.rq.defaults.baseURL with the base URL above.
{{- if .Values.secrets.webhookSecrets }}

Webhooks: register https://<your ingress host>{{ .Values.webhooks.path }} in the
Razorpay dashboard with the same secret.
{{- end }}
{{- $replicas := ternary .Values.autoscaling.maxReplicas .Values.replicaCount .Values.autoscaling.enabled | int }}
{{- if and (gt $replicas 1) (not .Values.redis.url) }}

WARNING: {{ if .Values.autoscaling.enabled }}up to {{ end }}{{ $replicas }} replicas run with in-memory caches
(cache.allowInMemoryWithReplicas). They do not share entries or purges: after
a write through one replica, the others may serve the old copy until its TTL.
Set redis.url for shared mode.
{{- end }}

The admin port ({{ .Values.metricsService.port }}: /metrics, /healthz, /readyz) is for
Prometheus and the kubelet only; never expose it outside the cluster.
{{- end }}
