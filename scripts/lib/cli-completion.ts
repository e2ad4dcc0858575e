/** Shell completion for bash and zsh (through zsh's bashcompinit), made from the generated commands. */
import { GLOBAL_FLAGS, type Command } from "./cli-commands.js";

/** Words that may follow each command prefix: subcommands after a group, flags after a command. */
export function completionWords(commands: readonly Command[]): Map<string, string[]> {
  const words = new Map<string, string[]>();
  const add = (prefix: string, word: string) => {
    const list = words.get(prefix) ?? [];
    if (!list.includes(word)) list.push(word);
    words.set(prefix, list);
  };
  for (const command of commands) {
    command.words.forEach((word, index) => add(command.words.slice(0, index).join("/"), word));
    const flags = [...command.flags, ...command.extraFlags, ...GLOBAL_FLAGS].map((flag) => `--${flag.flag}`);
    for (const flag of flags) add(command.words.join("/"), flag);
  }
  add("", "help");
  add("", "completion");
  add("completion", "bash");
  add("completion", "zsh");
  return words;
}

export function completionScript(commands: readonly Command[], shell: "bash" | "zsh"): string {
  const words = completionWords(commands);
  const prefixes = [...words.keys()].filter((prefix) => prefix !== "");
  // A word extends the command while "<prefix so far>/<word>" is a known prefix.
  const known = prefixes.map((prefix) => (prefix.includes("/") ? prefix : `/${prefix}`)).join("|");
  const cases = [...words]
    .map(([prefix, list]) => `    "${prefix}") words="${list.join(" ")}" ;;`)
    .join("\n");
  const bash = `_orch() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" key="" i=1 words=""
  while [ "$i" -lt "$COMP_CWORD" ]; do
    case "$key/\${COMP_WORDS[i]}" in
      ${known}) key="\${key:+$key/}\${COMP_WORDS[i]}"; i=$((i + 1)) ;;
      *) break ;;
    esac
  done
  case "$key" in
${cases}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _orch orch
`;
  return shell === "zsh" ? `autoload -U +X bashcompinit && bashcompinit\n${bash}` : bash;
}
