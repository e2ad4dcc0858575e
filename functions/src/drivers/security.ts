/**
 * Security, staged: the policy half is a pure check of the environment's actual Firestore and
 * Storage rules files, every instance's (no open writes where `forbid_open_rules` holds, always in
 * production);
 * App Check enforcement and IAM bindings are planned (listed in the artifact), never applied.
 */
import { INTEGRATION_DEFAULTS, type ResolvedEnvironment } from "../domain/config-schema.js";
import type { Problem } from "../domain/problems.js";
import {
  filePath,
  findOpenWrites,
  instancesOf,
  liveNote,
  nothingStaged,
  problem,
  STAGED,
  settingPath,
  settingsOf,
  type OpenRule,
} from "./rules-lint.js";
import type { DriverSpec, SourceReader } from "./types.js";
import { sha256, stableJson } from "../domain/digest.js";

/** Products App Check can protect, when the environment declares them. */
const APP_CHECK_PRODUCTS = ["auth", "firestore", "storage", "functions"] as const;
const ROLE = /^roles\/[A-Za-z0-9_.]+$/;
const MEMBER = /^(user|serviceAccount|group|domain):\S+$/;

interface RulesCheck {
  file: string;
  sha256: string;
  open_writes: { at: string; statement: string }[];
}

/** The staged security plan. */
export interface SecurityRelease {
  forbid_open_rules: boolean;
  /** By integration: `firestore`, `firestore:analytics-db`, `storage`... */
  rules: Record<string, RulesCheck>;
  app_check: Record<string, string>;
  iam_bindings: { role: string; members: string[] }[];
}

type RulesProduct = "firestore" | "storage";

/**
 * The rules files the environment uses: each declared Firestore and Storage instance's `rules_file`
 * (a second bucket's rules are as open to the world as the first's; Firestore databases of an
 * emulated project share one file, which is checked once); for a product not declared,
 * its default file if it exists. `first` is false for a file an earlier instance already named.
 */
async function rulesFiles(
  sources: SourceReader,
  environment: ResolvedEnvironment,
): Promise<
  {
    integration: string;
    product: RulesProduct;
    file: string;
    declared: boolean;
    first: boolean;
    text: string | undefined;
  }[]
> {
  const out = [];
  const texts = new Map<string, string | undefined>();
  for (const product of ["firestore", "storage"] as const) {
    const declared = instancesOf(environment, product).map(({ name, settings }) => ({
      integration: name,
      file: settings.rules_file,
      declared: true,
    }));
    const wanted =
      declared.length > 0
        ? declared
        : [{ integration: product, file: INTEGRATION_DEFAULTS[product].rules_file, declared: false }];
    for (const { integration, file, declared: isDeclared } of wanted) {
      const first = !texts.has(file);
      if (first) texts.set(file, await sources.readText(file));
      out.push({ integration, product, file, declared: isDeclared, first, text: texts.get(file) });
    }
  }
  return out;
}

const openWritesOf = (found: OpenRule[]) =>
  found.map((rule) => ({ at: filePath(rule.file, rule), statement: rule.statement }));

export const securityDriver: DriverSpec<"security", SecurityRelease> = {
  kind: "security",
  ...STAGED,

  async desired(target, io) {
    const settings = target.settings;
    const environment = target.environment;
    const problems: Problem[] = [];
    const at = (...rest: (string | number)[]) => settingPath("security", ...rest);
    const forbid = settings.forbid_open_rules || environment.type === "production";

    const rules: SecurityRelease["rules"] = {};
    for (const { integration, product, file, declared, first, text } of await rulesFiles(
      io.sources,
      environment,
    )) {
      if (text === undefined) {
        if (declared) {
          problems.push(
            problem(
              settingPath(integration, "rules_file"),
              `"${file}", which does not exist`,
              `the ${product} rules file the security policy checks`,
            ),
          );
        }
        continue;
      }
      const open = findOpenWrites(text, file);
      rules[integration] = { file, sha256: sha256(text), open_writes: openWritesOf(open) };
      if (forbid && first) {
        for (const rule of open) {
          problems.push(
            problem(
              filePath(file, rule),
              `"${rule.statement}", which lets anyone ${rule.operations.join(", ")}`,
              `a condition on writes (forbid_open_rules is on${environment.type === "production" ? ", as always in production" : ""})`,
            ),
          );
        }
      }
    }

    const iam = new Map<string, Set<string>>();
    settings.iam_bindings.forEach((binding, index) => {
      if (!ROLE.test(binding.role)) {
        problems.push(
          problem(
            at("iam_bindings", index, "role"),
            JSON.stringify(binding.role),
            "an IAM role such as roles/firebase.viewer",
          ),
        );
      }
      if (binding.members.length === 0) {
        problems.push(problem(at("iam_bindings", index, "members"), "no members", "at least one member"));
      }
      binding.members.forEach((member, position) => {
        if (!MEMBER.test(member)) {
          problems.push(
            problem(
              at("iam_bindings", index, "members", position),
              JSON.stringify(member),
              "user:, serviceAccount:, group: or domain: followed by an id (never allUsers)",
            ),
          );
        }
      });
      const members = iam.get(binding.role) ?? new Set<string>();
      for (const member of binding.members) members.add(member);
      iam.set(binding.role, members);
    });

    const appCheck: Record<string, string> = {};
    for (const product of APP_CHECK_PRODUCTS) {
      if (settingsOf(environment, product) !== undefined) appCheck[product] = settings.app_check;
    }

    const state: SecurityRelease = {
      forbid_open_rules: forbid,
      rules,
      app_check: appCheck,
      iam_bindings: [...iam.keys()]
        .sort()
        .map((role) => ({ role, members: [...(iam.get(role) ?? [])].sort() })),
    };
    return {
      state,
      problems,
      artifact: {
        name: `security/${environment.name}/plan.json`,
        content: stableJson({
          project_id: environment.project_id,
          status: "staged plan: App Check and IAM are listed here, not applied",
          forbid_open_rules: forbid,
          rules_checked: state.rules,
          app_check: state.app_check,
          iam_bindings: Object.fromEntries(
            state.iam_bindings.map((binding) => [binding.role, binding.members]),
          ),
        }),
      },
    };
  },

  async verify(target, io, release) {
    if (!release) return nothingStaged(target);
    const suffix = liveNote(target.environment);
    const recorded = release.state as Partial<SecurityRelease> | undefined;
    const findings: string[] = [];
    const forbid = recorded?.forbid_open_rules ?? true;
    for (const { integration, file, first, text } of await rulesFiles(io.sources, target.environment)) {
      const staged = recorded?.rules?.[integration];
      if (!first) continue;
      if (text === undefined) {
        if (staged) findings.push(`${file} is missing`);
        continue;
      }
      if (forbid)
        for (const open of findOpenWrites(text, file)) findings.push(`open write at ${filePath(file, open)}`);
      if (staged && staged.sha256 !== sha256(text))
        findings.push(`${file} changed since release ${release.number}`);
    }
    if (findings.length > 0) {
      return {
        status: "degraded",
        details: `staged security plan ${release.number}: ${findings.join("; ")}${suffix}`,
      };
    }
    return {
      status: "healthy",
      details: `staged security plan ${release.number}: rules pass the policy; App Check and IAM planned, nothing live touched${suffix}`,
    };
  },
};
