import fc from "fast-check";

/**
 * Arbitrary and near-valid inputs for the fuzz tests. FUZZ_RUNS sets the runs per target (default
 * 200), FUZZ_SEED replays a run; both are printed by the tests.
 */

export const FUZZ_RUNS = Math.max(1, Number(process.env.FUZZ_RUNS ?? 200));
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2_147_483_647);

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

/** Strings that have broken parsers before: empty, huge, NUL, lone surrogates, RTL marks, injections. */
export const oddString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 1, arbitrary: fc.array(fc.oneof(loneSurrogate, fc.string({ maxLength: 3 })), { maxLength: 8 }).map((a) => a.join("")) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "",
      " ",
      "\t\n",
      "\u0000",
      "a\u0000b",
      "\u202e\u2066",
      "\ufeff",
      "\ud800",
      "\udfff\ud800",
      "😀".repeat(64),
      "x".repeat(4001),
      "é".repeat(4000),
      "y".repeat(5000),
      "'; drop table users; --",
      "__proto__",
      "constructor",
      "toString",
      "${7*7}",
      "%00",
      "../../etc/passwd",
      "NaN",
      "-1",
      "1e400",
      "null",
      "[]",
      "{}",
    ),
  },
);

export const oddNumber: fc.Arbitrary<number> = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 1, -1, 0.5, 100, 101, 1000, 1001, 2 ** 31 - 1, 2 ** 31, 2 ** 53, 2 ** 53 + 2, 1e308, -1e308, 5e-324),
);

const deepArray = (n: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = [v];
  return v;
};

/** Any JSON value, plus shapes parsers choke on: deep nesting, prototype keys, huge arrays. */
export const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(deepArray(3000), { __proto__: { admin: true } }, JSON.parse('{"__proto__":{"x":1}}'), Array(5000).fill(0)) },
);

/** A field's value: usually a plausible one, often something else entirely. */
export function fieldValue(good: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 5, arbitrary: good },
    { weight: 2, arbitrary: oddString },
    { weight: 1, arbitrary: oddNumber },
    { weight: 1, arbitrary: anyJson },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(null, true, false, [], {}, undefined) },
  );
}

/** An object with the procedure's field names (some missing, some odd) and sometimes extra keys. */
export function nearValid(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  const shaped = fc.record(
    Object.fromEntries(Object.entries(fields).map(([k, good]) => [k, fieldValue(good)])),
    { requiredKeys: [] },
  );
  const extra = fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom("__proto__", "constructor", "prototype")), anyJson, { maxKeys: 3 });
  return fc.oneof(
    { weight: 4, arbitrary: shaped },
    { weight: 1, arbitrary: fc.tuple(shaped, extra).map(([a, b]) => ({ ...b, ...(a as object) })) },
  );
}

/** A procedure's input: near-valid most of the time, anything else otherwise. */
export function inputFor(fields: Record<string, fc.Arbitrary<unknown>> | null): fc.Arbitrary<unknown> {
  if (!fields) return fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: anyJson });
  return fc.oneof({ weight: 5, arbitrary: nearValid(fields) }, { weight: 1, arbitrary: anyJson }, { weight: 1, arbitrary: fc.constant(undefined) });
}

/** Bodies that are not JSON at all, or not quite. */
export const rawBody: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.constantFrom("{", "}", "[1,", '{"a":', "\u0000", "null", "true", "1", '"x"', "{}".repeat(1000), "%7B%7D", "<xml/>", "a=1&b=2"),
);

export const roomIdLike = (real: () => string[]): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 3, arbitrary: fc.nat().map((i) => real()[i % Math.max(1, real().length)] ?? "AAAAAAAAAAAAAAAA") },
    { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9]{16,20}$/) },
    { weight: 1, arbitrary: oddString },
  );

export const emailLike: fc.Arbitrary<string> = fc.oneof(
  fc.emailAddress(),
  fc.tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 })).map(([a, b]) => `${a}@${b}`),
);

export const loginLike: fc.Arbitrary<string> = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{4,32}$/), fc.string({ maxLength: 40 }));

export const textLike: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 200 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 200 }) },
  { weight: 1, arbitrary: fc.constantFrom("x".repeat(4000), "x".repeat(4001), "😀".repeat(4000), "😀".repeat(4001), " ".repeat(10), "\u0000") },
);

/** encodeURIComponent for any string: lone surrogates (which it refuses) become U+FFFD first. */
export function encodeAny(s: string): string {
  return encodeURIComponent(s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd"));
}

/** Prints how to replay a fuzz run; called by each fuzz test. */
export function announce(target: string, runs = FUZZ_RUNS): string {
  const line = `[fuzz] ${target}: seed ${FUZZ_SEED}, ${runs} runs (replay: FUZZ_SEED=${FUZZ_SEED} FUZZ_RUNS=${runs})`;
  console.log(line);
  return line;
}
