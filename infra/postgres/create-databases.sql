-- One database per service: each service owns its data and reaches the others only through Kafka.
CREATE DATABASE tcc_order;
CREATE DATABASE tcc_stock;
CREATE DATABASE tcc_payment;
