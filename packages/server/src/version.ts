/** The server's version, as `/` and the OpenAPI document state it. */
export const VERSION = '0.1.0';
