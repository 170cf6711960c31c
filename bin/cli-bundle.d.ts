export declare function bundleFiles(name: string): { bundle: string; inputs: string };
export declare const BUNDLE: string;
export declare const INPUTS: string;
export declare const PROCESS_BUNDLES: Record<'main-worker' | 'container-worker' | 'api-server', { source: string; env: Record<string, string> }>;
export type ProcessBundle = keyof typeof PROCESS_BUNDLES;
export declare function freshBundle(root: string, name?: string): { fresh: true; path: string } | { fresh: false; reason: string };
export declare function processEntry(root: string, name: ProcessBundle, env?: NodeJS.ProcessEnv):
  | { args: string[]; env: Record<string, string>; bundled: true }
  | { args: string[]; env: Record<string, string>; bundled: false; reason: string };
