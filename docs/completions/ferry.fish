complete -c ferry -s H -l hosts-override -d 'Use these hosts instead of the environment\'s (each takes every role)' -r
complete -c ferry -l roles -d 'Only hosts with one of these roles' -r
complete -c ferry -l limit -l hosts -d 'Only these hosts (as written in ferry.toml, or their names)' -r
complete -c ferry -l parallel -d 'Work on at most N hosts at once' -r
complete -c ferry -l set -d 'Override a setting or var for this run (repeatable)' -r
complete -c ferry -l config -d 'Use this ferry.toml instead of searching upwards from the working directory' -r -F
complete -c ferry -l color -d 'Colour the output: auto (a terminal, unless NO_COLOR is set; CLICOLOR_FORCE forces it), always or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c ferry -s l -l list -d 'List tasks with their descriptions'
complete -c ferry -l check -d 'Say what would change on each host, and change nothing'
complete -c ferry -l diff -d 'With changes to files, show them as unified diffs (secrets masked)'
complete -c ferry -s y -l yes -d 'Answer yes to the confirmation of environments marked `confirm = true`'
complete -c ferry -l json -d 'Print one JSON event per line on stdout'
complete -c ferry -s v -l verbose -d 'Show more: -v what each host is doing, -vv also the command and script each host is sent (secrets masked)'
complete -c ferry -s q -l quiet -d 'Show only results and errors, not the hosts\' output'
complete -c ferry -l skip-tests -d 'Deploy without running [pipeline] tests first (the history says so)'
complete -c ferry -l from-branch -d 'For `ship`: go as far as the environment [pipeline] branches maps the current branch to (or $GITHUB_REF_NAME, $CI_COMMIT_BRANCH)'
complete -c ferry -s h -l help -d 'Print help'
complete -c ferry -s V -l version -d 'Print version'
