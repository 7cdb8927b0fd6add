# shellcheck shell=bash
# Offline checks of the deployment templates, sourced by scripts/test after the tests (ROOT is the
# repository, .venv/bin is first on PATH, `step` records a failure and carries on). Nothing here
# reaches AWS:
#   - SAM's own validation, with cfn-lint, of template.yaml;
#   - cfn-lint of template.yaml and infrastructure/*.yaml;
#   - scripts/check_template.py: every binary has a function, routes match the OpenAPI file, owner
#     routes carry the JWT authorizer, the booking route is throttled, only mailers reach SES, ...

_template_files=("$ROOT/template.yaml")
for _template_file in "$ROOT"/infrastructure/*.yaml; do
	[[ -e $_template_file ]] && _template_files+=("$_template_file")
done

step "sam validate --lint" env SAM_CLI_TELEMETRY=0 AWS_EC2_METADATA_DISABLED=true \
	sam validate --lint --region us-east-1 --template-file "$ROOT/template.yaml"
step "cfn-lint" cfn-lint --region us-east-1 -- "${_template_files[@]}"
step "template matches code and API" python3 "$ROOT/scripts/check_template.py" "$ROOT"

unset _template_file _template_files
