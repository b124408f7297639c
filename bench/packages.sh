#!/usr/bin/env bash
# Issue 17: what the packages weigh and whether they work as a .NET developer uses them.
#   bench/packages.sh [--baseline REV] [--work DIR] [--no-pack]
# Packs every packable project (a build of its own under DIR, the repository's bin/ and obj/ untouched) into a
# local folder feed, then:
#   1. a fresh `dotnet new console` referencing BertSharp alone is told which package a built-in model needs;
#   2. the same app with BertSharp.Models.MiniLM runs README.md's C# example (on 64 training sentences, 1 epoch)
#      and its bin/ is measured;
#   3. the bertsharp tool installs from the feed with --tool-path and trains on 32 sentences.
# --baseline REV also packs the commit REV (exported with git archive) and measures its packages and the
# same app's bin/ for the table's "before" column. --no-pack takes the packages of the previous run under DIR.
# Slow (5-20 minutes): not part of CI. Needs ../shared/data.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
data=$(cd "$repo/../shared/data" && pwd)
baseline="" work=/tmp/pkg-bench repack=1
while [ $# -gt 0 ]; do
  case $1 in
    --baseline) baseline=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --no-pack) repack=0; shift ;;
    *) echo "usage: bench/packages.sh [--baseline REV] [--work DIR] [--no-pack]" >&2; exit 2 ;;
  esac
done
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# A version of its own, so nothing an earlier run (or another checkout) left in the NuGet cache is taken instead.
if [ $repack = 1 ]; then
  suffix="bench.$(date +%s)"
  rm -rf "$work" && mkdir -p "$work"
else
  suffix=$(cat "$work/suffix")
  rm -rf "$work/after/app" "$work/after/tool" "$work/after/polarity" "$work/before"
fi
version="1.0.0-$suffix"

mb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e6 }'; }
size_of() { stat -c %s "$1"; }

# pack SOURCE_TREE FEED: every packable project of the tree's solution, built under FEED/../artifacts.
pack() {
  local tree=$1 feed=$2
  mkdir -p "$feed"
  dotnet pack "$tree/BertSharp.slnx" -c Release -o "$feed" -p:VersionSuffix="$suffix" \
    --artifacts-path "$(dirname "$feed")/artifacts" -v q -nologo >"$(dirname "$feed")/pack.log" 2>&1 \
    || { tail -30 "$(dirname "$feed")/pack.log" >&2; exit 1; }
}

# new_app DIR FEED: a console app whose NuGet sources are FEED and the machine's usual ones (inherited).
new_app() {
  local dir=$1 feed=$2
  dotnet new console -o "$dir" -n PkgApp >/dev/null
  printf '<configuration>\n  <packageSources>\n    <add key="local" value="%s" />\n  </packageSources>\n</configuration>\n' "$feed" >"$dir/nuget.config"
}

bin_size() { du -sb "$1/bin/Release/net10.0" | cut -f1; }
# What the tool runs from: the tools/ folders in its store (the store also keeps two copies of each .nupkg).
tool_payload() { du -scb "$1"/.store/*/*/*/*/tools | tail -1 | cut -f1; }

# The README's C# example, reading the data beside this repository, on 64 sentences for one epoch.
readme_example() {
  awk '/^```csharp$/ { on = 1; next } on && /^```$/ { exit } on' "$repo/README.md" \
    | sed -e "s|\.\./shared/data|$data|g" -e 's/Select(2000)/Select(64)/' -e 's/NumTrainEpochs = 3/NumTrainEpochs = 1/'
}

if [ $repack = 1 ]; then
  echo "== packing $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD || echo ' (with uncommitted changes)') as $version"
  pack "$repo" "$work/after/feed"
  echo "$suffix" >"$work/suffix"
fi

echo "== a console app with BertSharp alone, naming a built-in model"
new_app "$work/after/app" "$work/after/feed"
(cd "$work/after/app" && dotnet add package BertSharp --version "$version" >/dev/null)
cat >"$work/after/app/Program.cs" <<'EOF'
var tokenizer = BertSharp.Text.BertTokenizer.FromBuiltIn("minilm-l6");
Console.WriteLine(string.Join(" ", tokenizer.Encode("I like NLP").Ids));
EOF
(cd "$work/after/app" && dotnet build -c Release -v q -nologo >/dev/null)
core_bin=$(bin_size "$work/after/app")
if message=$(cd "$work/after/app" && dotnet run -c Release --no-build 2>&1); then
  echo "FAIL: a built-in model loaded without its package" >&2; exit 1
fi
grep -q "dotnet add package BertSharp.Models.MiniLM" <<<"$message" || { echo "FAIL: unexpected error: $message" >&2; exit 1; }
echo "ok: $(grep -o "the built-in model.*BertSharp.Models.MiniLM)" <<<"$message" | head -1)"

echo "== the same app with BertSharp.Models.MiniLM runs README.md's C# example"
(cd "$work/after/app" && dotnet add package BertSharp.Models.MiniLM --version "$version" >/dev/null)
readme_example >"$work/after/app/Program.cs"
(cd "$work/after/app" && dotnet build -c Release -v q -nologo >/dev/null)
model_bin=$(bin_size "$work/after/app")
(cd "$work/after/app" && dotnet run -c Release --no-build) | tee "$work/after/readme_example.txt" | tail -4
grep -q "accuracy" "$work/after/readme_example.txt" || { echo "FAIL: the README example printed no report" >&2; exit 1; }

echo "== the bertsharp tool from the feed"
dotnet tool install BertSharp.Cli --version "$version" --tool-path "$work/after/tool" --add-source "$work/after/feed" >/dev/null
tool_size=$(du -sb "$work/after/tool" | cut -f1)
tool_files=$(tool_payload "$work/after/tool")
"$work/after/tool/bertsharp" train --data "$data/sentence-polarity/train.csv" --select 32 --epochs 1 \
  --output "$work/after/polarity" | tail -3
for f in config.json model.safetensors vocab.txt loss.png; do
  [ -s "$work/after/polarity/$f" ] || { echo "FAIL: the tool's run wrote no $f" >&2; exit 1; }
done
echo "ok: the tool trained and wrote config.json, model.safetensors, vocab.txt and loss.png"

declare -A before=()
if [ -n "$baseline" ]; then
  echo "== baseline $baseline"
  mkdir -p "$work/before/tree"
  git -C "$repo" archive "$baseline" | tar -x -C "$work/before/tree"
  pack "$work/before/tree" "$work/before/feed"
  for f in "$work/before/feed"/*.nupkg; do
    before[$(basename "$f" ".$version.nupkg")]=$(size_of "$f")
  done
  new_app "$work/before/app" "$work/before/feed"
  (cd "$work/before/app" && dotnet add package BertSharp --version "$version" >/dev/null)
  readme_example >"$work/before/app/Program.cs"
  (cd "$work/before/app" && dotnet build -c Release -v q -nologo >/dev/null)
  before[app]=$(bin_size "$work/before/app")
  dotnet tool install BertSharp.Cli --version "$version" --tool-path "$work/before/tool" --add-source "$work/before/feed" >/dev/null
  before[tool]=$(du -sb "$work/before/tool" | cut -f1)
  before[tool_files]=$(tool_payload "$work/before/tool")
fi

echo
echo "| package | before (MB) | after (MB) | after .snupkg (MB) |"
echo "| --- | ---: | ---: | ---: |"
for f in "$work/after/feed"/*.nupkg; do
  name=$(basename "$f" ".$version.nupkg")
  symbols="${f%.nupkg}.snupkg"
  printf "| %s | %s | %s | %s |\n" "$name" "${before[$name]:+$(mb "${before[$name]}")}" "$(mb "$(size_of "$f")")" \
    "$([ -s "$symbols" ] && mb "$(size_of "$symbols")" || echo -)"
done
echo
echo "| what | before (MB) | after (MB) |"
echo "| --- | ---: | ---: |"
printf "| console app bin/, BertSharp only | | %s |\n" "$(mb "$core_bin")"
printf "| console app bin/, BertSharp + minilm-l6 (README example) | %s | %s |\n" "${before[app]:+$(mb "${before[app]}")}" "$(mb "$model_bin")"
printf "| bertsharp installed (--tool-path), all | %s | %s |\n" "${before[tool]:+$(mb "${before[tool]}")}" "$(mb "$tool_size")"
printf "| bertsharp installed, its tools/ files | %s | %s |\n" "${before[tool_files]:+$(mb "${before[tool_files]}")}" "$(mb "$tool_files")"

# The packages this run put in the NuGet cache carry its own version: remove them so runs do not pile up.
cache=$(dotnet nuget locals global-packages --list | sed 's/^global-packages: *//')
for nupkg in "$work"/after/feed/*.nupkg; do
  id=$(basename "$nupkg" ".$version.nupkg" | tr '[:upper:]' '[:lower:]')
  rm -rf "${cache:?}/$id/$version"
  rmdir "$cache/$id" 2>/dev/null || true   # gone unless another version is cached
done
