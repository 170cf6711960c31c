export declare function bundleFiles(name: string): { bundle: string; inputs: string };
export declare const BUNDLE: string;
export declare const INPUTS: string;
export declare const PROCESS_BUNDLES: Record<'main-worker' | 'container-worker' | 'api-server', string>;
export type ProcessBundle = keyof typeof PROCESS_BUNDLES;
export declare function freshBundle(root: string, name?: string): { fresh: true; path: string } | { fresh: false; reason: string };
export declare function processEntry(root: string, name: ProcessBundle, env?: NodeJS.ProcessEnv):
  | { args: string[]; bundled: true }
  | { args: string[]; bundled: false; reason: string };
