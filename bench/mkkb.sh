#!/bin/sh
# bench/mkkb.sh TRAIN.tsv DIR: turns text<TAB>label lines (BANKING77's train split) into a kefu
# knowledge base in DIR/kb (one entry per label, its train lines as phrasings, `kefu import`)
# and an empty DIR/intents, for the server benchmark. The answer names the label, so a reply
# can be checked against the label of the question that was asked.
set -eu
train=$1
dir=$2
kefu=${KEFU:-build/kefu}
mkdir -p "$dir/kb" "$dir/intents"
awk -F '\t' 'NF >= 2 && $2 != "oos" {
    a = $2; gsub(/_/, " ", a)
    printf "%s\tThis is the answer about **%s** (intent `%s`).\n", $1, a, $2
}' "$train" >"$dir/qa.tsv"
"$kefu" import "$dir/qa.tsv" --prefix b77 -o "$dir/kb/banking77.md"
rm -f "$dir/qa.tsv"
