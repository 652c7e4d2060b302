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
{{- end }}
