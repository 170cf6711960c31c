// The package ships no types: what bench/server-requests.ts reads of its output.
declare module 'parse-prometheus-text-format' {
  export interface Sample { value?: string; labels?: Record<string, string> }
  export interface Family { name: string; help: string; type: string; metrics: Sample[] }
  export default function parsePrometheusTextFormat(text: string): Family[];
}
