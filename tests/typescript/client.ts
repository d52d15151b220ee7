// A small typed client over the types openapi-typescript generates from
// openapi/openapi.json: what an SPA would write. It only has to compile (tsc --noEmit):
// a field the SPA relies on that disappears, or changes type, breaks the build.

import type { components, paths } from "./generated/api";

type Schemas = components["schemas"];
export type RepositoryPage = Schemas["RepositoryPage"];
export type TagPage = Schemas["TagPage"];
export type ImageDetail = Schemas["ImageDetail"];
export type Config = Schemas["Config"];
export type ErrorResponse = Schemas["ErrorResponse"];
export type SearchPage = Schemas["SearchPage"];

// -- a typed GET over `paths` -----------------------------------------------------------

type JsonGet = {
  get: {
    parameters: { query?: unknown; path?: unknown };
    responses: { 200: { content: { "application/json": unknown } } };
  };
};
type GetPath = { [P in keyof paths]: paths[P] extends JsonGet ? P : never }[keyof paths];
type Op<P extends GetPath> = paths[P]["get"];
type Answer<P extends GetPath> = Op<P>["responses"][200]["content"]["application/json"];
type Params<P extends GetPath> = {
  path?: Op<P>["parameters"]["path"];
  query?: Op<P>["parameters"]["query"];
};

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorResponse,
  ) {
    super(`${status} ${body.error.code}: ${body.error.message}`);
  }

  /** An ended session: show the login form (401 with detail.session = "expired"). */
  get sessionExpired(): boolean {
    const detail: unknown = this.body.error.detail;
    return (
      this.body.error.code === "UNAUTHORIZED" &&
      typeof detail === "object" &&
      detail !== null &&
      (detail as { session?: unknown }).session === "expired"
    );
  }
}

function url(template: string, params: { path?: unknown; query?: unknown }): string {
  const values = (params.path ?? {}) as Record<string, string>;
  // {name} may contain "/": encode each segment, keep the slashes.
  const path = template.replace(/\{(\w+)\}/g, (_, key: string) =>
    (values[key] ?? "").split("/").map(encodeURIComponent).join("/"),
  );
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries((params.query ?? {}) as Record<string, unknown>)) {
    if (value !== null && value !== undefined) query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

export async function get<P extends GetPath>(path: P, params: Params<P> = {}): Promise<Answer<P>> {
  const response = await fetch(url(path, params), { credentials: "same-origin" });
  if (!response.ok) throw new ApiError(response.status, (await response.json()) as ErrorResponse);
  return (await response.json()) as Answer<P>;
}

// -- what the screens read ----------------------------------------------------------------

export async function repositories(q: string | null, last: string | null): Promise<RepositoryPage> {
  const page = await get("/api/repositories", { query: { n: 50, q, last } });
  const names: string[] = page.repositories.map((r) => r.name);
  const counts: (number | null)[] = page.repositories.map((r) => r.tag_count);
  const failed: (string | undefined)[] = page.repositories.map((r) => r.error?.code);
  const next: string | null = page.next;
  const total: number = page.total;
  console.log(names, counts, failed, next, total);
  return page;
}

export async function firstTagPlatforms(name: string): Promise<string[]> {
  const page: TagPage = await get("/api/repositories/{name}/tags", {
    path: { name },
    query: { details: true, sort: "-version", n: 20 },
  });
  const first = page.tags[0];
  if (first === undefined) return [];
  const platforms: string[] | null | undefined = first.platforms;
  const size: number | null | undefined = first.size;
  const created: string | null | undefined = first.created;
  const problem: string | undefined = first.error?.code;
  console.log(size, created, problem);
  return platforms ?? [];
}

export async function image(name: string, reference: string): Promise<string[]> {
  const detail: ImageDetail = await get("/api/repositories/{name}/images/{reference}", {
    path: { name, reference },
  });
  const kind: "image" | "index" = detail.kind;
  const tags: string[] = detail.tags;
  const attested: (string | null)[] = detail.attestations.map((a) => a.for_digest);
  const layers: number[] = detail.platforms.flatMap((p) => p.layers.map((l) => l.size));
  console.log(kind, tags, attested, layers, detail.size);
  // platforms[] of a tag row are os/architecture[/variant]: the same labels, built here.
  return detail.platforms.map(({ platform }) =>
    [platform.os, platform.architecture, platform.variant].filter(Boolean).join("/"),
  );
}

export async function activity(repository: string): Promise<string[]> {
  const page: Schemas["ActivityPage"] = await get("/api/activity", {
    query: { repository, action: "pull", n: 50 },
  });
  const since: string = page.tracking_since;
  const next: string | null = page.next;
  console.log(since, next);
  return page.events.map((e) => `${e.time} ${e.action} ${e.actor ?? "anonymous"} via ${e.via}`);
}

export async function stale(days: number): Promise<number> {
  const page: Schemas["StalePage"] = await get("/api/stale", { query: { days } });
  const lastPulled: (string | null)[] = page.tags.map((t) => t.last_pulled);
  console.log(lastPulled, page.next);
  return page.tags.reduce((sum, t) => sum + (t.exclusive_bytes ?? 0), 0);
}

/** Where a package is used: "repository:tag (platform)" per result, and whether that is all. */
export async function whereUsed(pkg: string): Promise<[string[], boolean]> {
  const page: SearchPage = await get("/api/search", { query: { package: pkg, n: 100 } });
  const found = page.results.map((r) => {
    const kind: string = r.match.kind;
    const platform: string | null = r.platform;
    return `${r.repository}:${r.tag} ${platform ?? ""} ${kind} ${r.match.value}`;
  });
  const indexed: number = page.indexed.images;
  const next: string | null = page.next;
  console.log(indexed, next);
  return [found, page.complete];
}

export async function canDelete(): Promise<boolean> {
  const config: Config = await get("/api/config");
  const enabled: boolean = config.features.delete;
  // null while the gateway serves /v2: pulls go through the host the page came from
  const pullHost: string = config.registry.pull_host ?? window.location.host;
  const login: boolean = config.auth.login;
  console.log(pullHost, login);
  return enabled;
}

export async function login(body: Schemas["Login"]): Promise<Schemas["LoggedIn"]> {
  const response = await fetch("/api/session", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-Requested-With": "XMLHttpRequest" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new ApiError(response.status, (await response.json()) as ErrorResponse);
  return (await response.json()) as Schemas["LoggedIn"];
}

export function describe(error: ApiError): string {
  const code: string = error.body.error.code;
  const message: string = error.body.error.message;
  switch (code) {
    case "NAME_UNKNOWN":
    case "MANIFEST_UNKNOWN":
      return "Not found";
    case "DELETE_DISABLED":
      return "Deletes are off";
    default:
      return error.sessionExpired ? "Please log in again" : message;
  }
}

// -- the contract's fixed fields, exactly ---------------------------------------------------

type Equals<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;

export type Contract = [
  Expect<Equals<Schemas["TagInfo"]["kind"], "image" | "index" | null | undefined>>,
  Expect<Equals<Schemas["ImageDetail"]["kind"], "image" | "index">>,
  Expect<Equals<Schemas["TagPage"]["next"], string | null>>,
  Expect<Equals<Schemas["ActivityEvent"]["action"], "push" | "pull" | "delete">>,
  Expect<Equals<Schemas["ActivityEvent"]["via"], "registry" | "gateway">>,
  Expect<Equals<Schemas["TagInfo"]["last_pulled"], string | null | undefined>>,
  Expect<Equals<Schemas["RepositoryPage"]["next"], string | null>>,
  Expect<Equals<Schemas["Health"]["status"], "ok" | "unavailable">>,
  Expect<Equals<Schemas["RegistryStatus"]["auth"], "none" | "basic" | "bearer">>,
  Expect<Equals<Schemas["FeaturesConfig"]["v2"], "off" | "pull" | "push">>,
  Expect<Equals<Schemas["ErrorBody"]["code"], string>>,
  Expect<Equals<Schemas["PlatformImage"]["size"], number>>,
  Expect<Equals<Schemas["ImageDeleted"]["untagged"], string[]>>,
];
