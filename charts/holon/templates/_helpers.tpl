{{/* Full name of the release's objects: the release name, unless it already says holon. */}}
{{- define "holon.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the operator Pods. */}}
{{- define "holon.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels on every object of the chart. */}}
{{- define "holon.labels" -}}
{{ include "holon.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: holon
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The operator's ServiceAccount name. */}}
{{- define "holon.serviceAccountName" -}}
{{- default (include "holon.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The ClusterKopfPeering of this release's replicas: one per release and namespace. */}}
{{- define "holon.peeringName" -}}
{{- default (printf "%s-%s" (include "holon.fullname" .) .Release.Namespace | trunc 253 | trimSuffix "-") .Values.operator.peeringName -}}
{{- end -}}
