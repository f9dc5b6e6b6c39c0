#!/usr/bin/env bash
# Commit messages after the convention was adopted: a subject of at most 72 characters, then,
# where there is a body, a blank line before it (CONTRIBUTING.md). History up to BASE is left as
# it is. In a shallow clone without BASE, the commits the clone has are checked.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=0b918a39640ebc36bdb037fba25fbb5d84039d39
if git cat-file -e "$BASE^{commit}" 2> /dev/null; then
    commits="$(git rev-list "$BASE..HEAD")" scope="after ${BASE:0:9}"
else
    commits="$(git rev-list HEAD)" scope="in this shallow clone"
fi
bad=0
for c in $commits; do
    subject="$(git log -1 --format=%s "$c")"
    second="$(git log -1 --format=%B "$c" | sed -n 2p)"
    if (( ${#subject} > 72 )); then
        echo "commit ${c:0:9}: subject is ${#subject} characters, at most 72: $subject" >&2
        bad=1
    fi
    if [[ -n "$second" ]]; then
        echo "commit ${c:0:9}: the line after the subject must be blank: $second" >&2
        bad=1
    fi
done
(( bad == 0 )) && echo "commit messages: $(wc -w <<< "$commits") commits $scope checked"
