export declare const BUNDLE: string;
export declare const INPUTS: string;
export declare function freshBundle(root: string): { fresh: true; path: string } | { fresh: false; reason: string };
