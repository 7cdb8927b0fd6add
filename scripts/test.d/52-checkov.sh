# shellcheck shell=bash
# checkov, a security scanner no one here wrote, over template.yaml and infrastructure/*.yaml: any
# failed check fails the run. A finding that does not apply is suppressed where it is, with a
# one-line reason (`Metadata: checkov: skip:` on the resource), never here. Offline
# (--skip-download). Sourced by scripts/test (ROOT and `step` are set).

ensure_checkov
_checkov_files=(-f "$ROOT/template.yaml")
for _checkov_file in "$ROOT"/infrastructure/*.yaml; do
	[[ -e $_checkov_file ]] && _checkov_files+=(-f "$_checkov_file")
done
step "checkov (template.yaml, infrastructure/*.yaml)" "$CHECKOV" --framework cloudformation \
	--skip-download --compact --quiet "${_checkov_files[@]}"

unset _checkov_file _checkov_files
