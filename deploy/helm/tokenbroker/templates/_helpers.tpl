{{/* Names and labels. */}}
{{- define "tokenbroker.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tokenbroker.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tokenbroker.labels" -}}
{{ include "tokenbroker.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "tokenbroker.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "tokenbroker.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "tokenbroker.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* Where the secret files are, by secrets.source. */}}
{{- define "tokenbroker.secretDir" -}}
{{- $s := .Values.secrets.source -}}
{{- if eq $s "kubernetes" -}}/etc/tokenbroker/secrets
{{- else if eq $s "vault-agent" -}}/vault/secrets
{{- else if eq $s "csi" -}}/mnt/secrets-store
{{- else -}}{{ fail (printf "secrets.source %q: want kubernetes, vault-agent or csi" $s) }}
{{- end -}}
{{- end -}}

{{/* The secret files that are turned on: file name → configuration key. */}}
{{- define "tokenbroker.secretFiles" -}}
{{- $f := .Values.secrets.files -}}
{{- $out := dict -}}
{{- if $f.vaultSecretID }}{{ $_ := set $out $f.vaultSecretID "backend.vault.auth.secret_id_file" }}{{ end -}}
{{- if $f.vaultToken }}{{ $_ := set $out $f.vaultToken "backend.vault.auth.token_file" }}{{ end -}}
{{- if $f.redisPassword }}{{ $_ := set $out $f.redisPassword "shared_state.redis.password_file" }}{{ end -}}
{{- if $f.auditChainKey }}{{ $_ := set $out $f.auditChainKey "audit.chain_key_file" }}{{ end -}}
{{- if $f.registrationToken }}{{ $_ := set $out $f.registrationToken "registration.initial_access_token_file" }}{{ end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* setPath sets the dotted key (list) in dict d to value v, making the
     dicts on the way. */}}
{{- define "tokenbroker.setPath" -}}
{{- $d := index . 0 -}}{{- $keys := index . 1 -}}{{- $v := index . 2 -}}
{{- if eq (len $keys) 1 -}}
{{- $_ := set $d (first $keys) $v -}}
{{- else -}}
{{- $next := get $d (first $keys) -}}
{{- if not (kindIs "map" $next) }}{{ $next = dict }}{{ $_ := set $d (first $keys) $next }}{{ end -}}
{{- include "tokenbroker.setPath" (list $next (rest $keys) $v) -}}
{{- end -}}
{{- end -}}

{{/* The configuration the ConfigMap holds: .Values.config plus the keys
     that depend on the chart (ports, mounted files). */}}
{{- define "tokenbroker.config" -}}
{{- $c := deepCopy .Values.config -}}
{{- $managed := list
  (list "listen") (list "admin" "listen") (list "mtls" "listen") (list "mtls" "base_url")
  (list "tls" "cert_file") (list "tls" "key_file") (list "tls" "client_ca_files")
  (list "backend" "file" "dir")
  (list "backend" "vault" "auth" "secret_id_file") (list "backend" "vault" "auth" "token_file")
  (list "shared_state" "redis" "password_file") (list "audit" "chain_key_file")
  (list "registration" "initial_access_token_file") -}}
{{- range $k := $managed -}}
{{- $d := $c -}}{{- $found := true -}}
{{- range $k -}}
{{- if and $found (kindIs "map" $d) (hasKey $d .) }}{{ $d = get $d . }}{{ else }}{{ $found = false }}{{ end -}}
{{- end -}}
{{- if $found }}{{ fail (printf "config.%s is set by the chart (docs/deployment.md): remove it from config" (join "." $k)) }}{{ end -}}
{{- end -}}
{{- $dir := include "tokenbroker.secretDir" . -}}
{{- include "tokenbroker.setPath" (list $c (list "listen") (printf ":%v" .Values.ports.https)) -}}
{{- include "tokenbroker.setPath" (list $c (list "admin" "listen") (printf ":%v" .Values.ports.admin)) -}}
{{- if .Values.mtls.enabled -}}
{{- include "tokenbroker.setPath" (list $c (list "mtls" "listen") (printf ":%v" .Values.ports.mtls)) -}}
{{- if .Values.mtls.baseURL }}{{ include "tokenbroker.setPath" (list $c (list "mtls" "base_url") .Values.mtls.baseURL) }}{{ end -}}
{{- end -}}
{{- if eq .Values.secrets.source "kubernetes" -}}
{{- if not .Values.tls.existingSecret }}{{ fail "tls.existingSecret: the server certificate's kubernetes.io/tls Secret is required" }}{{ end -}}
{{- include "tokenbroker.setPath" (list $c (list "tls" "cert_file") "/etc/tokenbroker/tls/tls.crt") -}}
{{- include "tokenbroker.setPath" (list $c (list "tls" "key_file") "/etc/tokenbroker/tls/tls.key") -}}
{{- else -}}
{{- include "tokenbroker.setPath" (list $c (list "tls" "cert_file") (printf "%s/tls.crt" $dir)) -}}
{{- include "tokenbroker.setPath" (list $c (list "tls" "key_file") (printf "%s/tls.key" $dir)) -}}
{{- end -}}
{{- if .Values.tls.clientCA.configMap -}}
{{- include "tokenbroker.setPath" (list $c (list "tls" "client_ca_files") (list (printf "/etc/tokenbroker/client-ca/%s" .Values.tls.clientCA.key))) -}}
{{- end -}}
{{- if eq (include "tokenbroker.backend" .) "file" -}}
{{- include "tokenbroker.setPath" (list $c (list "backend" "file" "dir") "/var/lib/tokenbroker/data") -}}
{{- end -}}
{{- range $file, $key := (include "tokenbroker.secretFiles" . | fromYaml) -}}
{{- include "tokenbroker.setPath" (list $c (splitList "." $key) (printf "%s/%s" $dir $file)) -}}
{{- end -}}
{{- toYaml $c -}}
{{- end -}}

{{- define "tokenbroker.backend" -}}
{{- (dig "backend" "type" "file" .Values.config) | default "file" -}}
{{- end -}}

{{/* Refusals: what would deploy something unsafe or broken. */}}
{{- define "tokenbroker.validate" -}}
{{- $replicas := int .Values.replicaCount -}}
{{- if or (gt $replicas 1) .Values.autoscaling.enabled -}}
{{- if ne (dig "shared_state" "type" "" .Values.config) "redis" -}}
{{- fail "several replicas need config.shared_state.type: redis (an assertion's jti must be single-use across replicas, RFC 7523 §3)" -}}
{{- end -}}
{{- if eq (include "tokenbroker.backend" .) "file" -}}
{{- fail "the file backend is one replica's directory: use replicaCount 1 without autoscaling, or the vault or awssm backend" -}}
{{- end -}}
{{- end -}}
{{- $files := include "tokenbroker.secretFiles" . | fromYaml -}}
{{- if eq .Values.secrets.source "kubernetes" -}}
{{- if and $files (not .Values.secrets.kubernetes.existingSecret) }}{{ fail "secrets.kubernetes.existingSecret: the Secret holding secrets.files is required" }}{{ end -}}
{{- else if eq .Values.secrets.source "vault-agent" -}}
{{- if not .Values.secrets.vaultAgent.role }}{{ fail "secrets.vaultAgent.role is required" }}{{ end -}}
{{- range $file := concat (keys $files) (list "tls.crt" "tls.key") -}}
{{- if not (hasKey $.Values.secrets.vaultAgent.paths $file) }}{{ fail (printf "secrets.vaultAgent.paths.%s: the Vault path of this file is required" $file) }}{{ end -}}
{{- end -}}
{{- else if eq .Values.secrets.source "csi" -}}
{{- if not .Values.secrets.csi.secretProviderClass }}{{ fail "secrets.csi.secretProviderClass is required" }}{{ end -}}
{{- end -}}
{{- end -}}
